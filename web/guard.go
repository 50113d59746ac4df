package web

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultBodyTimeout bounds reading a request body when Guard leaves
// BodyTimeout 0.
const DefaultBodyTimeout = 10 * time.Second

// Guard is what the HTTP server checks before the router: the Host header,
// the health report and the time a body may take.
type Guard struct {
	// AllowedHosts are the host names requests may name in Host (403
	// otherwise); empty or ["*"]: no check.
	AllowedHosts []string
	// Health, when set, names the parts that stopped working ("rtsp":
	// "accept: ..."); /healthz then answers 503 with them.
	Health func() map[string]string
	// BodyTimeout bounds reading a request body; 0: DefaultBodyTimeout.
	BodyTimeout time.Duration
}

// healthBody is /healthz's answer when something failed.
type healthBody struct {
	Status string            `json:"status"`
	Failed map[string]string `json:"failed"`
}

// Wrap returns next behind the guard.
func (g Guard) Wrap(next http.Handler) http.Handler {
	hosts := newHostChecker(g.AllowedHosts)
	timeout := g.BodyTimeout
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hosts != nil && !hosts.allowed(r.Host) {
			w.Header().Set("Connection", "close")
			writeJSON(w, http.StatusForbidden, errorBody{Error: "this Host is not served here (auth.http_allowed_hosts)"})
			return
		}
		if r.URL.Path == "/healthz" && g.Health != nil {
			if failed := g.Health(); len(failed) > 0 {
				writeJSON(w, http.StatusServiceUnavailable, healthBody{Status: "failed", Failed: failed})
				return
			}
		}
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(timeout))
			db := &deadlineBody{ReadCloser: r.Body, rc: rc}
			r.Body = db
			defer db.clear()
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// deadlineBody lifts the body's read deadline once the body is read, so
// that it never cuts a long response (MJPEG, SSE) short: net/http reads
// the connection in the background after the body, under the same
// deadline.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.clear()
	}
	return n, err
}

func (b *deadlineBody) clear() { b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) }) }

package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/internal/testmedia"
)

// Issue 13 item 1: with api_local_sources, a lavfi source through the API
// may only be one synthetic source filter; the graphs that wrote and read
// local files are refused on "url" and touch nothing.
func TestLavfiThroughAPIIsSyntheticOnly(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\napi_local_sources: true\nsources: []\n")
	dir := t.TempDir()
	written := filepath.Join(dir, "written")
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, graph := range []string{
		"testsrc,metadata=mode=print:file=" + written,
		"testsrc2=size=160x120,drawtext=textfile=" + secret,
		"movie=" + secret,
		"life=filename=" + secret,
	} {
		body := fmt.Sprintf(`{"name":"l%d","url":%q}`, i, "lavfi:"+graph)
		code, b := g.do("POST", "/api/v1/sources", body)
		var e struct{ Error, Field string }
		if code != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Field != "url" {
			t.Errorf("POST %s = %d %s, want 400 on url", graph, code, b)
		}
	}
	// A synthetic source still plays; had the refused ones started, the
	// metadata filter would have written its file by the time it does.
	if code, b := g.do("POST", "/api/v1/sources", `{"name":"ok","url":"lavfi:testsrc2=size=160x120:rate=25"}`); code != http.StatusCreated {
		t.Fatalf("allowed graph: %d %s", code, b)
	}
	g.waitRunning("ok", 10*time.Second)
	if _, err := os.Stat(written); !os.IsNotExist(err) {
		t.Errorf("a refused lavfi graph wrote %s (%v)", written, err)
	}
}

// Issue 13 item 3 through the API: the new fields are validated, and a
// camera whose certificate does not verify fails with a status that says
// so.
func TestTLSSourceFieldsThroughAPI(t *testing.T) {
	clip := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 10, Seconds: 1, Container: "ts"})
	impostor := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, clip)
	}))
	impostor.Config.ErrorLog = log.New(io.Discard, "", 0) // its handshake failures are the point
	t.Cleanup(impostor.Close)
	g := startGateway(t, "sources: []\n")
	cases := []struct{ body, field string }{
		{`{"name":"a","url":"https://cam/s.ts","ca_file":"/etc/ssl/certs/ca-certificates.crt"}`, "ca_file"},
		{`{"name":"a","url":"rtsp://cam/s","tls_verify":false}`, "tls_verify"},
		{`{"name":"a","url":"https://cam/s.ts","tls_verify":"no"}`, "tls_verify"},
	}
	for _, c := range cases {
		code, b := g.do("POST", "/api/v1/sources", c.body)
		var e struct{ Error, Field string }
		if code != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Field != c.field {
			t.Errorf("POST %s = %d %s, want 400 on %s", c.body, code, b, c.field)
		}
	}
	body := fmt.Sprintf(`{"name":"cam","url":%q,"read_timeout":"2s"}`, impostor.URL+"/cam.ts")
	if code, b := g.do("POST", "/api/v1/sources", body); code != http.StatusCreated {
		t.Fatalf("POST = %d %s", code, b)
	}
	st := waitLastError(t, g, "cam", 10*time.Second)
	if !strings.Contains(st.LastError, "certificate verify failed") || st.FramesIn != 0 {
		t.Fatalf("status %+v, want a last_error saying certificate verify failed and no frames", st)
	}
}

func waitLastError(t *testing.T, g *gateway, name string, within time.Duration) manager.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	var st manager.Status
	for time.Now().Before(deadline) {
		code, b := g.do("GET", "/api/v1/sources/"+name, "")
		if code == http.StatusOK && json.Unmarshal(b, &st) == nil && st.LastError != "" {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("source %s has no last_error within %v: %+v", name, within, st)
	return st
}

// syncLog is a log sink safe for the gateway's goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Issue 13 item 4: credentials in query parameters, and a token used as
// the user name, appear neither in API answers nor in the logs.
func TestCredentialsOutsideThePasswordAreMasked(t *testing.T) {
	cfg, err := config.Parse([]byte("http: 127.0.0.1:0\nrtsp: 127.0.0.1:0\nrtsp_rtp_address: off\nsources: []\n" +
		loopbackListeners))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncLog
	a, err := Start(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	g := &gateway{App: a, t: t, base: "http://" + a.HTTPAddr()}
	secrets := []string{"hunter2", "tok3n-abc", "s3ss10n"}
	urls := []string{
		"rtsp://127.0.0.1:1/cam?user=admin&pwd=hunter2",
		"rtmp://tok3n-abc@127.0.0.1:1/live/cam",
		"http://127.0.0.1:1/video.mjpg?Access_Token=s3ss10n",
	}
	for i, u := range urls {
		if code, b := g.do("POST", "/api/v1/sources", fmt.Sprintf(`{"name":"c%d","url":%q}`, i, u)); code != http.StatusCreated {
			t.Fatalf("POST %s = %d %s", u, code, b)
		}
		waitLastError(t, g, fmt.Sprintf("c%d", i), 10*time.Second)
	}
	_, list := g.do("GET", "/api/v1/sources", "")
	for _, s := range secrets {
		if strings.Contains(string(list), s) {
			t.Errorf("API answer shows %q: %s", s, list)
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs show %q", s)
		}
	}
}

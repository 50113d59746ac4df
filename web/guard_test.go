package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
}

// With the loopback names allowed, a request naming another host (a DNS
// name rebound to 127.0.0.1) is refused; the names themselves, with or
// without a port, pass.
func TestGuardHosts(t *testing.T) {
	h := Guard{AllowedHosts: []string{"localhost", "127.0.0.1", "::1", "cam.example.org"}}.Wrap(okHandler())
	cases := map[string]int{
		"127.0.0.1:8080": 200, "localhost:8080": 200, "LOCALHOST.": 200, "[::1]:8080": 200, "::1": 200,
		"cam.example.org": 200, "cam.example.org:8080": 200,
		"evil.example": 403, "evil.example:8080": 403, "127.0.0.1.evil.example": 403, "10.0.0.1:8080": 403,
	}
	for host, want := range cases {
		req := httptest.NewRequest("GET", "/api/v1/sources", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
	}
	open := Guard{AllowedHosts: []string{"*"}}.Wrap(okHandler())
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "evil.example"
	rec := httptest.NewRecorder()
	open.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf(`"*": %d`, rec.Code)
	}
}

// /healthz answers 503 naming what failed, 200 otherwise.
func TestGuardHealth(t *testing.T) {
	var failed map[string]string
	h := Guard{Health: func() map[string]string { return failed }}.Wrap(NewRouter(Options{Sources: newFake()}))
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec
	}
	if rec := get(); rec.Code != 200 {
		t.Fatalf("healthy: %d", rec.Code)
	}
	failed = map[string]string{"rtsp": "rtsp: server stopped serving: accept: too many open files"}
	rec := get()
	var body healthBody
	if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &body) != nil ||
		body.Status != "failed" || !strings.Contains(body.Failed["rtsp"], "too many open files") {
		t.Errorf("failed: %d %s", rec.Code, rec.Body)
	}
}

// A body that trickles stops being read after BodyTimeout, and the
// deadline touches nothing else: a long response to a request without a
// body, or after a short body, goes on (net/http cancels a request's
// context when a read deadline passes while it waits for the next request).
func TestGuardBodyTimeout(t *testing.T) {
	got := make(chan error, 1)
	h := Guard{BodyTimeout: 300 * time.Millisecond}.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			_, err := io.ReadAll(r.Body)
			got <- err
			return
		}
		for range 6 { // 600 ms of streaming, past the body's deadline
			fmt.Fprintln(w, "part")
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
	select {
	case err := <-got:
		if err == nil {
			t.Error("the trickling body read without error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the body read was not cut off")
	}
	for _, body := range []io.Reader{nil, strings.NewReader("short")} {
		resp, err := http.Post(srv.URL+"/stream", "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if n := strings.Count(string(b), "part"); n != 6 {
			t.Errorf("body %v: streamed %d parts, want 6 (cut by a read deadline?)", body != nil, n)
		}
	}
}

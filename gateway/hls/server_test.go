package hls

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/media"
)

func TestHTTPErrorsAndCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{ReadyTimeout: 300 * time.Millisecond}, nil)

	r := do(t, http.MethodOptions, e.url("index.m3u8"), "Origin", "http://x", "Access-Control-Request-Headers", "range")
	if r.code != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "GET") ||
		r.header.Get("Access-Control-Allow-Headers") != "range" {
		t.Fatalf("preflight: %d %v", r.code, r.header)
	}
	for _, u := range []string{"/hls/nope/index.m3u8", "/hls/cam/", "/hls/cam", "/hls/", "/other/cam/index.m3u8",
		"/hls/cam/a/index.m3u8", "/hls/bad%20name/index.m3u8", "/hls/cam/gap.mp4"} {
		r := get(t, e.ts.URL+u)
		wantJSONError(t, r, http.StatusNotFound)
		if r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: no CORS header on an error", u)
		}
	}
	wantJSONError(t, do(t, http.MethodPost, e.url("index.m3u8")), http.StatusMethodNotAllowed)
	// Attached but the source sends nothing: 503 after ReadyTimeout.
	r = get(t, e.url("index.m3u8"))
	wantJSONError(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestCORSSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		srv  *Server
		want string
	}{
		{&Server{AllowOrigin: "https://example.com"}, "https://example.com"},
		{&Server{NoCORS: true}, ""},
	} {
		ts := httptest.NewServer(tc.srv.Handler())
		r := do(t, http.MethodOptions, ts.URL+"/hls/x/index.m3u8")
		r2 := get(t, ts.URL+"/hls/x/index.m3u8")
		ts.Close()
		tc.srv.Close()
		if r.code != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != tc.want ||
			r2.header.Get("Access-Control-Allow-Origin") != tc.want {
			t.Fatalf("want origin %q, got %d %v / %v", tc.want, r.code, r.header, r2.header)
		}
	}
}

// TestDetach: a request waiting for the first segment is released by
// Detach, and later requests get 404.
func TestDetach(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{}, nil)
	p := e.srv.lookup("cam")
	got := getAsync(e.url("index.m3u8"))
	// Detach only once the request waits in the path: a request that came
	// later would get 404 from the lookup and prove nothing about release.
	waitFor(t, "the playlist request to wait in the path", func() bool { return p.waiting.Load() == 1 })
	e.srv.Detach("cam")
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("waiting request: %v", r.err)
		}
		wantJSONError(t, r.response, http.StatusNotFound)
		if !strings.Contains(string(r.body), errPathGone.Error()) {
			t.Fatalf("waiting request answered %s, want the path's %q", r.body, errPathGone)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting request not released by Detach")
	}
	wantJSONError(t, get(t, e.url("index.m3u8")), http.StatusNotFound)
	if n := e.hub.Readers(); n != 0 {
		t.Fatalf("hub still has %d readers after Detach", n)
	}
}

// TestOnDemand: with IdleTimeout the path reads its hub only while players
// ask for it, and the first request waits for a playable playlist.
func TestOnDemand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{IdleTimeout: 700 * time.Millisecond}, nil)
	p := e.srv.lookup("cam")
	p.mu.Lock()
	changed := p.ChangedLocked()
	p.mu.Unlock()
	e.pub = startPublisher(t, e.hub, clip320)
	// An idle path must not read its hub. One that did would hold a hub
	// reader and, at the first keyframe it read, build a muxer, which closes
	// changed. Watch for both while the publisher puts two keyframes into
	// the hub (units 0 and 25): a reader subscribed at any time before the
	// second would have got one. The window ends on what was published, so
	// a slow machine lengthens it instead of cutting the observation short.
	deadline := time.Now().Add(10 * time.Second)
	for e.pub.published() <= 26 {
		if n := e.hub.Readers(); n != 0 {
			t.Fatalf("idle path reads its hub (%d readers)", n)
		}
		select {
		case <-changed:
			t.Fatal("idle path built a muxer: it read its hub")
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("publisher put only %d units in 10 s", e.pub.published())
		}
	}
	for round := range 2 {
		mv := parseMultivariant(t, mustGet(t, e.url("index.m3u8")))
		mustGet(t, e.url(mv.Variants[0].URI))
		if e.hub.Readers() != 1 || e.srv.Readers("cam") != 1 {
			t.Fatalf("round %d: hub readers %d, players %d", round, e.hub.Readers(), e.srv.Readers("cam"))
		}
		waitFor(t, "the idle muxer to stop", func() bool { return e.hub.Readers() == 0 })
	}
}

func TestReaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{ReadyTimeout: time.Millisecond}, nil)
	for _, ua := range []string{"a", "b", "a"} {
		do(t, http.MethodGet, e.url("index.m3u8"), "User-Agent", ua)
	}
	if n := e.srv.Readers("cam"); n != 2 {
		t.Fatalf("Readers = %d, want 2", n)
	}
	if n := e.srv.Readers("other"); n != 0 {
		t.Fatalf("Readers(other) = %d", n)
	}
	var c clientSet
	now := time.Now()
	c.seen(now.Add(-ReaderWindow-time.Second), "old")
	c.seen(now, "new")
	if n := c.count(now); n != 1 {
		t.Fatalf("count = %d, want 1 (old client expired)", n)
	}
}

// TestCloseLeavesNoGoroutines closes a server while a player is blocked on
// a preload hint part.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := &Server{Log: testLogger(t)}
	ts := httptest.NewServer(srv.Handler())
	h := hub.New("cam")
	srv.Attach(output.Source{Name: "cam", Units: h})
	pub := startPublisher(t, h, clip320)
	m := parseMedia(t, mustGet(t, ts.URL+"/hls/cam/video1_stream.m3u8"))
	pub.stop() // the hinted part will never complete
	p := srv.lookup("cam")
	blocked := getAsync(ts.URL + "/hls/cam/" + m.PreloadHint.URI)
	// Close only once gohlslib holds the request: one that arrived after
	// Close would get 404 without anything having been released.
	waitFor(t, "the part request to block in the muxer", func() bool { return p.waiting.Load() == 1 })
	srv.Close()
	select {
	case r := <-blocked:
		if r.err != nil {
			t.Fatalf("blocked request: %v", r.err)
		}
		if r.code == http.StatusOK {
			t.Fatal("incomplete part served")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked part request not released by Close")
	}
	srv.Attach(output.Source{Name: "cam", Units: hub.New("cam")}) // after Close: ignored
	wantJSONError(t, get(t, ts.URL+"/hls/cam/index.m3u8"), http.StatusNotFound)
	h.Close()
	ts.Close()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestConcurrentAttachDetach races Attach, Detach, Readers and requests.
func TestConcurrentAttachDetach(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{ReadyTimeout: 50 * time.Millisecond}, clip320)
	var wg sync.WaitGroup
	stop := time.Now().Add(time.Second)
	for i := range 4 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if i%2 == 0 {
					e.srv.Attach(output.Source{Name: "cam", Units: e.hub})
					e.srv.Attach(output.Source{Name: "cam", Units: hub.New("cam")})
					e.srv.Detach("cam")
				} else {
					r := get(t, e.url(fmt.Sprintf("index.m3u8?i=%d", i)))
					if r.code != http.StatusOK && r.code != http.StatusNotFound && r.code != http.StatusServiceUnavailable {
						t.Errorf("status %d %s", r.code, r.body)
					}
					e.srv.Readers("cam")
				}
			}
		})
	}
	wg.Wait()
}

// TestUnservable: a bad Variant, or a codec the variant cannot carry, is
// reported to players as a 500 with the reason.
func TestUnservable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{Variant: "bogus"}, nil)
	r := get(t, e.url("index.m3u8"))
	wantJSONError(t, r, http.StatusInternalServerError)
	if !strings.Contains(string(r.body), "unknown variant") {
		t.Fatalf("body %s", r.body)
	}

	e = newEnv(t, &Server{Variant: VariantMPEGTS}, nil)
	info := &media.StreamInfo{Codec: media.CodecH265, VPS: []byte{0x40, 1}, SPS: []byte{0x42, 1}, PPS: []byte{0x44, 1}}
	e.hub.Publish(&media.AccessUnit{Info: info, IDR: true, NALUs: [][]byte{{0x26, 1}}})
	r = get(t, e.url("index.m3u8"))
	wantJSONError(t, r, http.StatusInternalServerError)
	if !strings.Contains(string(r.body), "not supported") {
		t.Fatalf("body %s", r.body)
	}
}

// asyncResponse is the outcome of a request made by getAsync.
type asyncResponse struct {
	response
	err error
}

// getAsync sends a GET from its own goroutine, which must not call
// t.Fatal: failures come back in err.
func getAsync(url string) <-chan asyncResponse {
	out := make(chan asyncResponse, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		var r asyncResponse
		defer func() { out <- r }()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			r.err = err
			return
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			r.err = err
			return
		}
		defer res.Body.Close()
		r.code, r.header = res.StatusCode, res.Header
		r.body, r.err = io.ReadAll(res.Body)
	}()
	return out
}

// published returns how many units the publisher has taken from its clip;
// every one but the last has been published.
func (p *publisher) published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

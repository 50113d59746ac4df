package app

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// mjpegViewer counts well-formed JPEG parts of an MJPEG stream for d.
func mjpegViewer(ctx context.Context, url string, d time.Duration) (parts int, width int, err error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		return 0, 0, fmt.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			if ctx.Err() != nil {
				return parts, width, nil // the window ended
			}
			return parts, width, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			if ctx.Err() != nil {
				return parts, width, nil
			}
			return parts, width, err
		}
		if p.Header.Get("Content-Type") != "image/jpeg" {
			return parts, width, fmt.Errorf("part type %q", p.Header.Get("Content-Type"))
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return parts, width, fmt.Errorf("part %d is not a JPEG: %w", parts, err)
		}
		width = cfg.Width
		parts++
	}
}

// 20 MJPEG viewers each get most of the source's frame rate, one viewer
// that never reads does not slow them, and per-viewer width works.
func TestMJPEGViewers(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\nsources:\n  - name: m\n    url: \"lavfi:testsrc2=size=320x240:rate=25\"\n")
	g.waitRunning("m", 10*time.Second)
	stalled := stallViewer(t, g.HTTPAddr(), "/mjpeg/m")
	defer stalled.Close()

	const viewers, window = 20, 4 * time.Second
	var wg sync.WaitGroup
	counts := make([]int, viewers)
	errs := make([]error, viewers)
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], _, errs[i] = mjpegViewer(t.Context(), g.base+"/mjpeg/m", window)
		}()
	}
	// Each viewer's window bounds it; a stuck one fails here, not at the
	// go test timeout.
	viewed := make(chan struct{})
	go func() {
		wg.Wait()
		close(viewed)
	}()
	select {
	case <-viewed:
	case <-time.After(window + 10*time.Second):
		t.Fatalf("MJPEG viewers still running 10 s after their %v window", window)
	}
	min := int(0.8 * 25 * (window - time.Second).Seconds()) // allow a second to connect
	for i := range viewers {
		if errs[i] != nil || counts[i] < min {
			t.Errorf("viewer %d: %d pictures in %v (want ≥ %d): %v", i, counts[i], window, min, errs[i])
		}
	}
	t.Logf("pictures per viewer in %v: %v", window, counts)

	n, w, err := mjpegViewer(t.Context(), g.base+"/mjpeg/m?width=160&fps=5", 2*time.Second)
	if err != nil || w != 160 || n < 5 || n > 12 {
		t.Errorf("?width=160&fps=5: %d pictures of width %d: %v", n, w, err)
	}
}

// stallViewer opens an MJPEG request and never reads the response.
func stallViewer(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSnapshot(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\nsources:\n  - name: s\n    url: \"lavfi:testsrc2=size=320x240:rate=25\"\n")
	g.waitRunning("s", 10*time.Second)
	for _, c := range []struct {
		path  string
		width int
	}{
		{"/snapshot/s.jpg", 320},
		{"/snapshot/s.jpg?width=100", 106},  // snapped up to a third of the source
		{"/snapshot/s.jpg?width=4000", 320}, // never above the source
	} {
		code, body := g.do("GET", c.path, "")
		if code != 200 {
			t.Fatalf("%s = %d %s", c.path, code, body)
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil || img.Bounds().Dx() != c.width {
			t.Errorf("%s: %v, width %d, want %d", c.path, err, img.Bounds().Dx(), c.width)
		}
	}
	for path, want := range map[string]int{"/snapshot/nope.jpg": 404, "/snapshot/s.png": 404,
		"/mjpeg/nope": 404, "/mjpeg/s?width=abc": 400, "/snapshot/s.jpg?width=1": 400} {
		if code, _ := g.do("GET", path, ""); code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
	}
}

// Shutdown ends streaming responses at once instead of waiting for them.
func TestCloseWithViewersConnected(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\nsources:\n  - name: c\n    url: \"lavfi:testsrc2=size=160x120:rate=25\"\n")
	g.waitRunning("c", 10*time.Second)
	// Every wait below has a deadline: a shutdown that hangs on the stream
	// fails with a message instead of running into the go test timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", g.base+"/mjpeg/c", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	// Streaming: the first picture came.
	if _, err := multipart.NewReader(resp.Body, params["boundary"]).NextPart(); err != nil {
		t.Fatalf("first MJPEG part: %v", err)
	}
	streamEnded := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		close(streamEnded)
	}()
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- g.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close with an MJPEG viewer: %v after %v", err, time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close with an MJPEG viewer has not returned after 10 s")
	}
	if el := time.Since(start); el >= shutdownGrace {
		t.Errorf("Close took %v, the whole shutdown grace: the stream held it", el)
	}
	select {
	case <-streamEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("MJPEG response still open 5 s after Close returned")
	}
}

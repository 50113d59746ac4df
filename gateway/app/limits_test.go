package app

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testcam"
)

// Over readers_per_source, a new RTSP reader or MJPEG viewer is refused
// with 503 and the ones already watching are untouched.
func TestReaderLimits(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\nlimits: {readers_per_source: 2}\n"+
		"sources:\n  - name: l\n    url: \"lavfi:testsrc2=size=160x120:rate=25\"\n")
	g.waitRunning("l", 10*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 2 {
		req, _ := http.NewRequestWithContext(ctx, "GET", g.base+"/mjpeg/l", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("viewer within the limit: %v %v", err, resp)
		}
		defer resp.Body.Close()
	}
	if code, _ := g.do("GET", "/mjpeg/l", ""); code != http.StatusServiceUnavailable {
		t.Errorf("third MJPEG viewer: %d, want 503", code)
	}
	first := testcam.ReadAsync(g.rtspURL("l"), "tcp", 3*time.Second)
	second := testcam.ReadAsync(g.rtspURL("l"), "tcp", 3*time.Second)
	g.waitReaders("l", "rtsp", 2, 5*time.Second)
	if _, err := testcam.Read(g.rtspURL("l"), "tcp", time.Second); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("third RTSP reader: %v, want 503", err)
	}
	for _, done := range []<-chan testcam.Result{first, second} {
		if res := <-done; res.Err != nil {
			t.Errorf("reader within the limit: %v", res.Err)
		}
	}
}

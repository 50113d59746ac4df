package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testcam"
)

// With read credentials set, RTSP and MJPEG readers must give them; the
// API wants the admin token.
func TestReadCredentials(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\n"+
		"auth: {token: s3cret, read_username: viewer, read_password: look}\n"+
		"sources:\n  - name: a\n    url: \"lavfi:testsrc2=size=160x120:rate=25\"\n")
	g.waitFramesAfter("a", 0, 10*time.Second) // the API needs the token: ask the manager
	host := strings.TrimPrefix(g.rtspURL("a"), "rtsp://")
	if _, err := testcam.Read("rtsp://"+host, "tcp", time.Second); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("RTSP without credentials: %v, want 401", err)
	}
	if _, err := testcam.Read("rtsp://viewer:wrong@"+host, "tcp", time.Second); err == nil {
		t.Error("RTSP with a wrong password played")
	}
	r, err := testcam.Read("rtsp://viewer:look@"+host, "tcp", 2*time.Second)
	if err != nil || r.Frames == 0 {
		t.Errorf("RTSP with the read account: %v", err)
	}
	if code, _ := g.do("GET", "/api/v1/sources", ""); code != http.StatusUnauthorized {
		t.Errorf("API without the token: %d", code)
	}
	req, _ := http.NewRequest("GET", g.base+"/snapshot/a.jpg", nil)
	req.SetBasicAuth("viewer", "look")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("snapshot with the read account: %v %v", err, resp)
	}
	if resp != nil {
		resp.Body.Close()
	}
}

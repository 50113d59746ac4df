package app

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/internal/testcam"
)

// Cameras that send garbage SDP, bad or huge parameter sets, random RTP,
// warped timestamps, truncated frames or junk between interleaved frames:
// the gateway survives them all, each such source stays alive (running or
// retrying, with its error shown), and a healthy source beside them keeps
// its full rate.
func TestHostileCameras(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\nreconnect: {min: 100ms, max: 500ms}\nsources:\n"+
		"  - name: healthy\n    url: \"lavfi:testsrc2=size=320x240:rate=25\"\n")
	g.waitRunning("healthy", 10*time.Second)
	for i, mode := range testcam.HostileModes {
		cam := testcam.StartHostile(t, testcam.HostileOptions{Mode: mode, Seed: uint64(i + 1)})
		body := fmt.Sprintf(`{"name":%q,"url":%q,"transport":"tcp","connect_timeout":"2s","read_timeout":"1s"}`, mode, cam.URL)
		if code, b := g.do("POST", "/api/v1/sources", body); code != 201 {
			t.Fatalf("POST %s = %d %s", mode, code, b)
		}
	}
	r, err := testcam.Read(g.rtspURL("healthy"), "tcp", 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkReading(t, r, 320, 240, 25, 4*time.Second)
	for _, mode := range testcam.HostileModes {
		st := sourceStatus(t, g, mode)
		t.Logf("%s: %s after %d attempts, frames out %d, last error %q", mode, st.State, st.Attempts, st.FramesOut, st.LastError)
		if st.State != manager.StateRunning && st.State != manager.StateRetrying && st.State != manager.StateStarting {
			t.Errorf("%s: state %s", mode, st.State)
		}
	}
}

func sourceStatus(t *testing.T, g *gateway, name string) manager.Status {
	t.Helper()
	code, b := g.do("GET", "/api/v1/sources/"+name, "")
	var st manager.Status
	if code != 200 || json.Unmarshal(b, &st) != nil {
		t.Fatalf("status of %s = %d %s", name, code, b)
	}
	return st
}

package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/internal/testcam"
)

// Issue 10 item 4 end to end: a camera nobody watches is decoded for its
// detector but not encoded; detection goes on; a first RTSP reader sees a
// keyframe at once; readers coming and going share one encoder.
func TestOnDemandEncodingThroughGateway(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	g := startGateway(t, fmt.Sprintf("sources:\n"+
		"  - name: watched\n    url: %s\n    transport: tcp\n    vision: {detector: motion, fps: 5}\n"+
		"  - name: plain\n    url: %s\n    transport: tcp\n", cam.URL, cam.URL))
	g.waitRunning("watched", 10*time.Second)
	g.waitRunning("plain", 10*time.Second)
	idle := g.waitSampled("watched", 5, 10*time.Second)
	if idle.Encoder.Running || !idle.Decoder.Running || idle.FramesOut != 0 {
		t.Errorf("vision source, nobody watching: decoder %+v, encoder %+v, frames out %d; want decoding only",
			idle.Decoder, idle.Encoder, idle.FramesOut)
	}
	if st := g.status("plain"); st.Encoder.Running || st.Decoder.Running || st.FramesOut != 0 {
		t.Errorf("plain source, nobody watching: decoder %+v, encoder %+v; want neither running", st.Decoder, st.Encoder)
	}
	for _, name := range []string{"watched", "plain"} {
		for i := range 5 {
			r, err := testcam.Read(g.rtspURL(name), "tcp", 500*time.Millisecond)
			if err != nil {
				t.Fatalf("%s: reader %d: %v", name, i, err)
			}
			t.Logf("%s: reader %d: first keyframe %v after DESCRIBE, %d units before it", name, i,
				r.KeyAfter.Round(time.Millisecond), r.BeforeIDR)
			// The target is 1 s; the bound leaves room for a loaded machine.
			if r.Frames == 0 || r.KeyAfter > 2*time.Second {
				t.Errorf("%s: reader %d: %d units, first keyframe after %v", name, i, r.Frames, r.KeyAfter)
			}
		}
		if st := g.status(name); !st.Encoder.Running || st.Encoder.Starts != 1 {
			t.Errorf("%s after 5 readers in a row: encoder %+v, want running and started once", name, st.Encoder)
		}
	}
}

// waitSampled waits until the source's detector has sampled n more frames.
func (g *gateway) waitSampled(name string, n uint64, within time.Duration) manager.Status {
	g.t.Helper()
	first := g.status(name)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st := g.status(name); st.Vision != nil && first.Vision != nil && st.Vision.Sampled >= first.Vision.Sampled+n {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("%s: detector sampled fewer than %d frames within %v: %+v", name, n, within, g.status(name).Vision)
	return manager.Status{}
}

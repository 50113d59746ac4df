package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/media"
)

// startDemand runs a paced lavfi source whose hub is on demand (grace > 0)
// or always on (grace 0), with a long keyframe interval, so that every IDR
// sooner than it was asked for.
func startDemand(t *testing.T, grace time.Duration, stage FrameStage) (*Pipeline, *hub.Hub) {
	t.Helper()
	cfg := config.Default()
	src := config.Source{Name: "p", URL: "lavfi:testsrc2=size=160x120:rate=25"}
	src.Encoder.Keyint = config.Duration{D: 30 * time.Second}
	src = cfg.Resolve(src)
	u, err := config.ParseSourceURL(src.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New("p")
	h.SetOnDemand(grace > 0, grace)
	p := New(Options{Source: src, URL: u, Hub: h, Stage: stage})
	p.Start()
	t.Cleanup(func() { p.Stop(); h.Close() })
	return p, h
}

func waitStats(t *testing.T, p *Pipeline, what string, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(p.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 10s: %+v", what, p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// firstIDR waits for the reader's first unit, which the hub makes an IDR,
// and returns how long it took.
func firstIDR(t *testing.T, r *hub.Reader) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	au, err := r.Next(ctx)
	if err != nil {
		t.Fatalf("no unit: %v", err)
	}
	if !au.IDR || au.Info == nil || len(au.Info.SPS) == 0 {
		t.Fatalf("first unit: IDR %v, info %+v", au.IDR, au.Info)
	}
	return time.Since(start)
}

// With nobody watching and no vision, frames come in but nothing is
// decoded, encoded or published.
func TestOnDemandIdleSourceOnlyDemuxes(t *testing.T) {
	p, h := startDemand(t, time.Minute, nil)
	waitStats(t, p, "receiving", func(s Stats) bool { return s.FramesIn >= 25 })
	st := p.Stats()
	if st.Decoding || st.Encoding || st.FramesOut != 0 || st.EncoderStarts != 0 || h.Latest() != nil {
		t.Fatalf("idle source: %+v, latest unit %v", st, h.Latest() != nil)
	}
	if st.State != StateRunning {
		t.Errorf("state %s, want running", st.State)
	}
}

// A first reader gets an IDR with parameter sets at once: the decoder
// catches up from the GOP kept while idle, and a new encoder starts on an
// IDR (the camera's next keyframe is 30 s away).
func TestOnDemandFirstReaderGetsAnIDRAtOnce(t *testing.T) {
	p, h := startDemand(t, time.Minute, nil)
	waitStats(t, p, "receiving", func(s Stats) bool { return s.FramesIn >= 10 })
	r := h.Subscribe(64)
	defer r.Close()
	release := h.Want()
	defer release()
	took := firstIDR(t, r)
	t.Logf("first IDR %v after the reader asked", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("first IDR after %v", took)
	}
	if st := p.Stats(); !st.Decoding || !st.Encoding || st.EncoderStarts != 1 {
		t.Errorf("with a reader: %+v", st)
	}
}

// The encoder stops once the last reader has been gone for the grace
// period, and so does decoding without vision.
func TestOnDemandEncoderStopsAfterTheGrace(t *testing.T) {
	p, h := startDemand(t, 300*time.Millisecond, nil)
	release := h.Want()
	waitStats(t, p, "encoding", func(s Stats) bool { return s.Encoding && s.FramesOut > 0 })
	release()
	waitStats(t, p, "idle", func(s Stats) bool { return !s.Encoding && !s.Decoding })
	out := p.Stats().FramesOut
	in := p.Stats().FramesIn
	waitStats(t, p, "receiving", func(s Stats) bool { return s.FramesIn >= in+10 })
	if got := p.Stats().FramesOut; got != out {
		t.Errorf("frames out went from %d to %d with nobody watching", out, got)
	}
}

// Readers coming and going within the grace period share one encoder.
func TestOnDemandReaderChurnKeepsOneEncoder(t *testing.T) {
	p, h := startDemand(t, time.Minute, nil)
	for range 20 {
		r := h.Subscribe(64)
		release := h.Want()
		h.RequestKeyframe()
		firstIDR(t, r)
		release()
		r.Close()
	}
	if st := p.Stats(); st.EncoderStarts != 1 {
		t.Errorf("encoder started %d times for 20 short readers", st.EncoderStarts)
	}
}

type countingStage struct{ processed, observed atomic.Int64 }

func (c *countingStage) Process(*media.Frame) { c.processed.Add(1) }
func (c *countingStage) Observe(*media.Frame) { c.observed.Add(1) }

// With vision on, frames are decoded for the detector while nobody
// watches, and only looked at (nothing is drawn, so nothing is copied);
// the encoder rests.
func TestOnDemandVisionKeepsDecoding(t *testing.T) {
	stage := &countingStage{}
	p, _ := startDemand(t, time.Minute, stage)
	waitStats(t, p, "receiving", func(s Stats) bool { return s.FramesIn >= 25 })
	st := p.Stats()
	if !st.Decoding || st.Encoding || stage.observed.Load() < 20 || stage.processed.Load() != 0 {
		t.Errorf("vision source with nobody watching: %+v, stage observed %d frames and drew on %d",
			st, stage.observed.Load(), stage.processed.Load())
	}
}

// A running encoder answers a reader's keyframe request with an IDR long
// before its own next keyframe.
func TestKeyframeRequestForcesAnIDR(t *testing.T) {
	_, h := startDemand(t, 0, nil)
	r := h.Subscribe(64)
	defer r.Close()
	firstIDR(t, r) // the encoder's own first keyframe; the next is 30 s away
	h.RequestKeyframe()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		au, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("no IDR within 5s of the request: %v", err)
		}
		if au.IDR {
			return
		}
	}
}

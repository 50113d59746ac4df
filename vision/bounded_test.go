package vision

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// stuckDet never returns from Detect until released, like a native call
// that hangs.
type stuckDet struct {
	release chan struct{}
	closed  *atomic.Int64
}

func (d stuckDet) Detect(gocv.Mat) ([]media.Box, error) { <-d.release; return nil, nil }
func (d stuckDet) Close() error                         { d.closed.Add(1); return nil }

// A model load or a detection that hangs is abandoned with a clear error:
// the worker, Stage.Close and Pool.Close never wait for it, and what it
// held is freed once it finally returns.
func TestHungNativeCallsAreAbandoned(t *testing.T) {
	release := make(chan struct{})
	var closed atomic.Int64
	slowLoad := func(cfg Config) (Detector, error) {
		if cfg.MinArea == 2 { // the "slow model"
			<-release
		}
		return stuckDet{release, &closed}, nil
	}
	p := NewPool(1, slowLoad)
	p.SetTimeouts(100*time.Millisecond, 100*time.Millisecond)
	for _, tc := range []struct {
		name, want string
		minArea    int
	}{
		{"load", "loading the detector took longer than 100ms", 2},
		{"detect", "detection took longer than 100ms", 1},
	} {
		s, err := p.NewStage(tc.name, Config{Detector: DetectorMotion, MinArea: tc.minArea})
		if err != nil {
			t.Fatal(err)
		}
		s.TrySubmit(grayFrame(64, 64, 80, 128, 128))
		waitFor(t, func() bool { return s.Stats().Errors == 1 })
		// Once timed out, the source stops sampling until its detector
		// changes: a hung model must not pile up stray calls.
		waitFor(t, func() bool { return p.Stats().Busy == 0 })
		if s.TrySubmit(grayFrame(64, 64, 80, 128, 128)) {
			t.Errorf("%s: sampling goes on after the timeout", tc.name)
		}
		if st := s.Stats(); !strings.Contains(st.LastError, tc.want) {
			t.Errorf("%s: last error %q, want %q", tc.name, st.LastError, tc.want)
		}
		start := time.Now()
		s.Close()
		if time.Since(start) > time.Second {
			t.Errorf("%s: Close took %v", tc.name, time.Since(start))
		}
	}
	if StrayCalls() != 2 {
		t.Errorf("%d stray calls, want 2 (the load and the detection)", StrayCalls())
	}
	start := time.Now()
	p.Close()
	if time.Since(start) > time.Second {
		t.Errorf("Pool.Close took %v", time.Since(start))
	}
	close(release) // the native calls return at last: their detectors are freed
	waitFor(t, func() bool { return StrayCalls() == 0 && closed.Load() == 2 })
}

// A model load stuck far longer than the close bounds: removing the
// source and closing the pool return within their bounds anyway.
func TestCloseDoesNotWaitForAStuckLoad(t *testing.T) {
	release := make(chan struct{})
	var closed atomic.Int64
	p := NewPool(1, func(Config) (Detector, error) {
		<-release
		return stuckDet{release, &closed}, nil
	})
	p.SetTimeouts(time.Hour, time.Hour)
	s, err := p.NewStage("stuck", Config{Detector: DetectorMotion})
	if err != nil {
		t.Fatal(err)
	}
	s.TrySubmit(grayFrame(64, 64, 80, 128, 128))
	waitFor(t, func() bool { return p.Stats().Busy == 1 })
	for _, c := range []struct {
		name string
		fn   func() error
		max  time.Duration
	}{{"Stage.Close", s.Close, StageCloseWait}, {"Pool.Close", p.Close, PoolCloseWait}} {
		start := time.Now()
		err := c.fn()
		if took := time.Since(start); took > c.max+time.Second {
			t.Errorf("%s took %v", c.name, took)
		}
		t.Logf("%s: %v", c.name, err)
	}
	close(release)
	waitFor(t, func() bool { return p.Stats().Busy == 0 && closed.Load() == 1 })
}

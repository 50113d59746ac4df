package vision

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// fakes builds slow fake detectors: cfg.MinArea-1 is the delay in ms (the
// tests borrow a field), and every build and close is counted.
type fakes struct {
	built, closed, calls atomic.Int64
	fail                 atomic.Bool  // builds fail
	panics               atomic.Bool  // Detect panics
	lastEnd              atomic.Int64 // UnixNano when a Detect last returned
}

type fakeDet struct {
	f     *fakes
	delay time.Duration
}

func (f *fakes) factory(cfg Config) (Detector, error) {
	if f.fail.Load() {
		return nil, errors.New("no model")
	}
	f.built.Add(1)
	return &fakeDet{f: f, delay: time.Duration(cfg.MinArea-1) * time.Millisecond}, nil
}

// Detect returns one box covering the middle of the image.
func (d *fakeDet) Detect(img gocv.Mat) ([]media.Box, error) {
	d.f.calls.Add(1)
	if d.f.panics.Load() {
		panic("fake panic")
	}
	time.Sleep(d.delay)
	defer d.f.lastEnd.Store(time.Now().UnixNano())
	w, h := img.Cols(), img.Rows()
	return []media.Box{{X: w / 4, Y: h / 4, W: w / 2, H: h / 2, Label: "fake", Score: 0.5}}, nil
}

func (d *fakeDet) Close() error { d.f.closed.Add(1); return nil }

func fakeCfg(delayMS int, fps float64) Config {
	return Config{Detector: DetectorMotion, MinArea: delayMS + 1, FPS: fps}
}

// pump calls Process as fast as it can for d and returns the calls made
// and the slowest call.
func pump(s *Stage, f *media.Frame, d time.Duration) (n int, slowest time.Duration) {
	return pumpPaced(s, f, d, 0)
}

// pumpPaced waits pace between frames, like a live source.
func pumpPaced(s *Stage, f *media.Frame, d, pace time.Duration) (n int, slowest time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		t0 := time.Now()
		s.Process(f)
		slowest = max(slowest, time.Since(t0))
		n++
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	return n, slowest
}

func TestProcessNeverWaitsForSlowDetector(t *testing.T) {
	var fk fakes
	p := NewPool(1, fk.factory)
	defer p.Close()
	s, err := p.NewStage("cam", fakeCfg(200, 50))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := grayFrame(640, 360, 80, 128, 128)
	var maxPending atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // watch the pool's backlog while frames flow
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				maxPending.Store(max(maxPending.Load(), int64(p.Stats().Pending)))
			}
		}
	}()
	n, slowest := pump(s, f, time.Second)
	close(stop)
	wg.Wait()
	st := s.Stats()
	t.Logf("%d frames, slowest Process %v, %+v", n, slowest, st)
	if st.Frames != uint64(n) {
		t.Errorf("stage saw %d frames, fed %d", st.Frames, n)
	}
	if n < 1000 {
		t.Errorf("only %d frames/s went through Process", n)
	}
	// Generous for a loaded machine, yet far below one detection.
	if slowest > 50*time.Millisecond {
		t.Errorf("Process took %v: it waited", slowest)
	}
	// 200 ms per detection: about 5 in a second, never the 50 asked for.
	if st.Detections < 3 || st.Detections > 6 {
		t.Errorf("%d detections in 1 s with a 200 ms detector", st.Detections)
	}
	// Every sample ran, or was replaced by a newer one while pending, or is
	// the one still in flight: nothing else can have been queued.
	if st.SkippedBusy == 0 || st.Sampled-st.Replaced > st.Detections+1 {
		t.Errorf("sampled %d, replaced %d, skipped %d: sampling ignored the detection in flight",
			st.Sampled, st.Replaced, st.SkippedBusy)
	}
	if maxPending.Load() > 1 {
		t.Errorf("pending jobs reached %d", maxPending.Load())
	}
}

func TestFPSLimitsSampling(t *testing.T) {
	var fk fakes
	p := NewPool(1, fk.factory)
	defer p.Close()
	s, _ := p.NewStage("cam", fakeCfg(0, 10))
	defer s.Close()
	pump(s, grayFrame(64, 48, 80, 128, 128), 500*time.Millisecond)
	if n := s.Stats().Sampled; n < 3 || n > 6 {
		t.Fatalf("sampled %d frames in 0.5 s at fps 10", n)
	}
}

func TestSourcesShareOneWorker(t *testing.T) {
	var fk fakes
	p := NewPool(1, fk.factory)
	defer p.Close()
	heavy, _ := p.NewStage("heavy", fakeCfg(60, 100))
	light, _ := p.NewStage("light", fakeCfg(5, 100))
	third, _ := p.NewStage("third", fakeCfg(5, 100))
	defer heavy.Close()
	defer light.Close()
	defer third.Close()
	var wg sync.WaitGroup
	for _, s := range []*Stage{heavy, light, third} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pumpPaced(s, grayFrame(64, 48, 80, 128, 128), 800*time.Millisecond, time.Millisecond)
		}()
	}
	wg.Wait()
	h, l, th := heavy.Stats().Detections, light.Stats().Detections, third.Stats().Detections
	t.Logf("detections: heavy %d, light %d, third %d; pool %+v", h, l, th, p.Stats())
	// Round-robin: each source gets a turn per cycle of ~70 ms.
	lo, hi := min(h, l, th), max(h, l, th)
	if lo < 3 || hi > 2*lo+2 {
		t.Fatalf("unfair share: heavy %d, light %d, third %d", h, l, th)
	}
}

func TestNewerFrameReplacesPending(t *testing.T) {
	var fk fakes
	p := NewPool(1, fk.factory)
	defer p.Close()
	busy, _ := p.NewStage("busy", fakeCfg(300, 100))
	waiting, _ := p.NewStage("waiting", fakeCfg(0, 100))
	defer busy.Close()
	defer waiting.Close()
	f := grayFrame(64, 48, 80, 128, 128)
	if !busy.TrySubmit(f) {
		t.Fatal("first submit refused")
	}
	waitFor(t, func() bool { return p.Stats().Busy == 1 })
	for i := 0; i < 5; i++ {
		f.PTS = int64(i)
		if !waiting.TrySubmit(f) {
			t.Fatal("submit refused while only pending")
		}
	}
	if st := p.Stats(); st.Pending != 1 {
		t.Fatalf("pending %d, want 1", st.Pending)
	}
	waitFor(t, func() bool { _, ok := waiting.Latest(); return ok })
	d, _ := waiting.Latest()
	if d.PTS != 4 || waiting.Stats().Replaced != 4 {
		t.Fatalf("ran PTS %d (replaced %d): the latest frame should win", d.PTS, waiting.Stats().Replaced)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

// When a subscriber hears a result, the stage is already idle: the next
// frame it submits is accepted (no window where the event precedes it).
func TestStageIsIdleWhenItsEventArrives(t *testing.T) {
	// The window only shows under some schedulings: try a few.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(procs)
		submitOnEveryEvent(t, procs)
	}
}

func submitOnEveryEvent(t *testing.T, procs int) {
	var fk fakes
	p := NewPool(2, fk.factory)
	defer p.Close()
	s, err := p.NewStage("cam", fakeCfg(0, 100))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, cancel := s.Subscribe(1)
	defer cancel()
	f := grayFrame(64, 48, 80, 128, 128)
	for i := range 1000 {
		if !s.TrySubmit(f) {
			t.Fatalf("GOMAXPROCS %d, round %d: submit refused right after the previous result", procs, i)
		}
		select {
		case <-ev:
		case <-time.After(10 * time.Second):
			t.Fatalf("GOMAXPROCS %d, round %d: no result", procs, i)
		}
	}
}

package vision

import (
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
)

func TestResultsScaleEventsAndLatest(t *testing.T) {
	var fk fakes
	p := NewPool(1, fk.factory)
	defer p.Close()
	s, _ := p.NewStage("cam", fakeCfg(0, 100))
	ev, cancel := s.Subscribe(8)
	defer cancel()
	slow, _ := s.Subscribe(1) // never read: drops
	f := grayFrame(1280, 720, 80, 128, 128)
	f.PTS = 9000
	s.TrySubmit(f)
	d := <-ev
	// The fake boxes the middle of the 640x360 copy: the middle of 1280x720.
	want := media.Box{X: 320, Y: 180, W: 640, H: 360, Label: "fake", Score: 0.5}
	if d.Source != "cam" || d.PTS != 9000 || d.Width != 1280 || d.Height != 720 ||
		d.Detector != DetectorMotion || len(d.Boxes) != 1 || d.Boxes[0] != want || d.Latency <= 0 {
		t.Fatalf("event %+v", d)
	}
	latest, ok := s.Latest()
	if !ok || latest.PTS != 9000 || latest.Boxes[0] != want {
		t.Fatalf("latest %+v %v", latest, ok)
	}
	waitFor(t, func() bool { return p.Stats().Busy == 0 })
	s.TrySubmit(f)
	<-ev
	if s.Stats().EventsDropped != 1 {
		t.Fatalf("dropped %d, want 1", s.Stats().EventsDropped)
	}
	s.Close()
	if _, open := <-slow; !open {
		t.Fatal("slow subscriber lost its buffered event")
	}
	if _, open := <-slow; open {
		t.Fatal("subscription still open after Close")
	}
}

func TestBoxesDrawnUntilHold(t *testing.T) {
	var fk fakes
	p := NewPool(1, fk.factory)
	defer p.Close()
	cfg := fakeCfg(0, 0.1) // one sample, then none for 10 s
	cfg.Hold = 400 * time.Millisecond
	s, _ := p.NewStage("cam", cfg)
	defer s.Close()
	ev, cancel := s.Subscribe(4)
	defer cancel()
	drawn := func() bool {
		f := grayFrame(320, 240, 16, 128, 128)
		s.Process(f)
		return yAt(f, 80, 120) != 16 // the box's left edge (x = 320/4)
	}
	if drawn() {
		t.Fatal("box drawn before any result")
	}
	<-ev
	if !drawn() {
		t.Fatal("fresh box not drawn")
	}
	if st := s.Stats(); st.Boxes != 1 || st.BoxAgeFrames != 1 || st.Sampled != 1 {
		t.Fatalf("stats %+v", st)
	}
	time.Sleep(500 * time.Millisecond)
	if drawn() {
		t.Fatal("box drawn after Hold")
	}
}

func TestUpdateRebuildsDetector(t *testing.T) {
	var fk fakes
	p := NewPool(1, fk.factory)
	defer p.Close()
	s, _ := p.NewStage("cam", fakeCfg(0, 100))
	defer s.Close()
	ev, cancel := s.Subscribe(4)
	defer cancel()
	f := grayFrame(64, 48, 80, 128, 128)
	s.TrySubmit(f)
	<-ev
	// Sampling-only change: the detector stays.
	s.Update(fakeCfg(0, 50))
	waitFor(t, func() bool { return p.Stats().Busy == 0 })
	s.TrySubmit(f)
	<-ev
	if fk.built.Load() != 1 {
		t.Fatalf("built %d detectors for an fps change", fk.built.Load())
	}
	s.Update(fakeCfg(1, 50))
	waitFor(t, func() bool { return fk.closed.Load() == 1 }) // the worker freed the old one
	s.TrySubmit(f)
	<-ev
	if fk.built.Load() != 2 {
		t.Fatalf("built %d, want 2", fk.built.Load())
	}
	if err := s.Update(Config{Detector: "cars"}); err == nil {
		t.Fatal("bad config accepted")
	}
	s.Update(Config{Detector: DetectorNone})
	if s.TrySubmit(f) || s.Stats().Boxes != 0 {
		t.Fatal("none detector sampled or kept boxes")
	}
}

func TestCloseWaitsForInflightAndFreesDetectors(t *testing.T) {
	var fk fakes
	p := NewPool(2, fk.factory)
	s, _ := p.NewStage("cam", fakeCfg(150, 100))
	s.TrySubmit(grayFrame(64, 48, 80, 128, 128))
	waitFor(t, func() bool { return fk.calls.Load() == 1 })
	s.Close()
	if end := fk.lastEnd.Load(); end == 0 || end > time.Now().UnixNano() {
		t.Fatal("Close returned before the detection in flight ended")
	}
	s.Process(grayFrame(64, 48, 80, 128, 128)) // still safe
	waitFor(t, func() bool { return fk.closed.Load() == 1 })
	other, _ := p.NewStage("other", fakeCfg(0, 100))
	other.TrySubmit(grayFrame(64, 48, 80, 128, 128))
	waitFor(t, func() bool { return other.Stats().Detections == 1 })
	p.Close()
	if fk.built.Load() != fk.closed.Load() {
		t.Fatalf("built %d detectors, closed %d", fk.built.Load(), fk.closed.Load())
	}
	if _, err := p.NewStage("late", fakeCfg(0, 1)); err != ErrClosed {
		t.Fatalf("NewStage after Close: %v", err)
	}
	if other.TrySubmit(grayFrame(64, 48, 80, 128, 128)) {
		t.Fatal("closed pool accepted a frame")
	}
	other.Close()
}

func TestFailingDetectorsDoNotKillWorkers(t *testing.T) {
	var fk fakes
	p := NewPool(1, fk.factory)
	defer p.Close()
	fk.fail.Store(true)
	s, _ := p.NewStage("cam", fakeCfg(0, 100))
	defer s.Close()
	pump(s, grayFrame(64, 48, 80, 128, 128), 100*time.Millisecond)
	waitFor(t, func() bool { return s.Stats().Errors > 0 })
	sampled := s.Stats().Sampled
	pump(s, grayFrame(64, 48, 80, 128, 128), 100*time.Millisecond)
	if st := s.Stats(); st.Sampled != sampled || st.LastError == "" {
		t.Fatalf("sampling went on after a failed build: %+v", st)
	}
	fk.fail.Store(false)
	fk.panics.Store(true)
	s.Update(fakeCfg(1, 100)) // a new config tries again
	pump(s, grayFrame(64, 48, 80, 128, 128), 100*time.Millisecond)
	waitFor(t, func() bool { return s.Stats().Errors > 1 })
	fk.panics.Store(false)
	ev, cancel := s.Subscribe(1)
	defer cancel()
	for s.Stats().Detections == 0 {
		pump(s, grayFrame(64, 48, 80, 128, 128), 20*time.Millisecond)
	}
	<-ev
}

// The real chain: an I420 frame of vtest.avi through copy, downscale,
// conversion and HOG; boxes come back in frame pixels and get drawn.
func TestStagePeopleOnVtest(t *testing.T) {
	frames := readFrames(t, testdata(t, "vtest.avi"), 30, 1)
	defer closeMats(frames)
	p := NewPool(1, nil)
	defer p.Close()
	s, err := p.NewStage("vtest", Config{Detector: DetectorPeople})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, cancel := s.Subscribe(1)
	defer cancel()
	f := toFrame(t, frames[0], media.LayoutNV12, 16)
	s.Process(f)
	d := <-ev
	if d.Width != 768 || d.Height != 576 || len(d.Boxes) == 0 {
		t.Fatalf("detections %+v", d)
	}
	// Same boxes as HOG on a plain 640 px resize, scaled by 768/640.
	small := resized(frames[0], 640)
	defer small.Close()
	ref := newDet(t, Config{Detector: DetectorPeople})
	defer ref.Close()
	want, _ := ref.Detect(small)
	want = scaleBoxes(want, 1.2, 1.2, 768, 576)
	for _, b := range d.Boxes {
		if bestIoU(b, want) < 0.6 {
			t.Errorf("box %+v matches none of %+v", b, want)
		}
	}
	before := append([]byte{}, f.Planes[0]...)
	s.Process(f)
	b := d.Boxes[0]
	if f.Planes[0][b.Y*f.Strides[0]+b.X] == before[b.Y*f.Strides[0]+b.X] && f.Planes[0][(b.Y+1)*f.Strides[0]+b.X+10] == before[(b.Y+1)*f.Strides[0]+b.X+10] {
		t.Error("box outline not drawn on the next frame")
	}
}

func bestIoU(b media.Box, in []media.Box) float32 {
	var best float32
	r := rect{X: b.X, Y: b.Y, W: b.W, H: b.H}
	for _, o := range in {
		best = max(best, iou(r, rect{X: o.X, Y: o.Y, W: o.W, H: o.H}))
	}
	return best
}

package vision

import (
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/analytics"
)

// HOG on OpenCV's pedestrian clip at 5 results per second of video: the
// same walker keeps the same id from result to result, and no id comes
// back after it ended.
func TestPeopleOnVtestKeepTheirIDs(t *testing.T) {
	const results = 60
	frames := readFrames(t, testdata(t, "vtest.avi"), 0, 2*results)
	defer closeMats(frames)
	p := NewPool(1, nil)
	defer p.Close()
	s, err := p.NewStage("vtest", Config{Detector: DetectorPeople, Tracker: TrackerConfig{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, cancel := s.Subscribe(1)
	defer cancel()
	life := map[uint64]int{} // results each id appears in
	ended := map[uint64]bool{}
	boxes := 0
	for i := 0; i < len(frames); i += 2 {
		f := toFrame(t, frames[i], media.LayoutI420, 0)
		f.PTS = int64(i) * media.ClockRate / 10 // the clip's 10 fps
		if !s.TrySubmit(f) {
			t.Fatal("submit refused while idle")
		}
		d := <-ev
		for _, b := range d.Boxes {
			if b.TrackID == 0 || ended[b.TrackID] {
				t.Fatalf("result %d: box %+v has no id or an ended one", i/2, b)
			}
			life[b.TrackID]++
			boxes++
		}
		for _, e := range d.Events {
			if e.Type == media.EventEnd {
				ended[e.TrackID] = true
			}
		}
	}
	long := 0 // boxes of tracks seen in at least 10 results
	for _, n := range life {
		if n >= 10 {
			long += n
		}
	}
	t.Logf("%d boxes in %d results, %d ids, %d in tracks living ≥ 10 results; lives %v", boxes, results, len(life), long, life)
	if boxes < results || 3*long < 2*boxes || len(life) > boxes/5 {
		t.Errorf("%d of %d boxes belong to tracks living ≥ 10 results (want ≥ 2/3), %d ids (want ≤ %d)",
			long, boxes, len(life), boxes/5)
	}
}

// pathDet returns one "person" box per call, moving along a fixed path.
type pathDet struct {
	path [][2]int
	i    *atomic.Int64
}

func (d pathDet) Detect(gocv.Mat) ([]media.Box, error) {
	k := min(int(d.i.Add(1))-1, len(d.path)-1)
	p := d.path[k]
	return []media.Box{{X: p[0], Y: p[1], W: 40, H: 80, Label: "person", Score: 0.9}}, nil
}

func (pathDet) Close() error { return nil }

// A box walking right across a zone and a vertical line, through the real
// stage: exact enter/exit/cross events and counts, with ids.
func TestZoneAndLineCountsThroughStage(t *testing.T) {
	var path [][2]int
	for x := 0; x <= 560; x += 10 { // bottom-centre x = x+20, y = 280
		path = append(path, [2]int{x, 200})
	}
	var calls atomic.Int64
	p := NewPool(1, func(Config) (Detector, error) { return pathDet{path, &calls}, nil })
	defer p.Close()
	cfg := Config{Detector: DetectorMotion, Tracker: TrackerConfig{Enabled: true},
		Analytics: analytics.Config{
			Zones: []analytics.Zone{{Name: "door", Polygon: [][2]float64{{200, 0}, {400, 0}, {400, 360}, {200, 360}}}},
			Lines: []analytics.Line{{Name: "gate", From: [2]float64{300, 0}, To: [2]float64{300, 360}}},
		}}
	s, err := p.NewStage("walk", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, cancel := s.Subscribe(1)
	defer cancel()
	count := map[string]int{}
	var dir string
	f := grayFrame(640, 360, 80, 128, 128)
	for i := range path {
		f.PTS = int64(i) * media.ClockRate / 25
		s.TrySubmit(f)
		d := <-ev
		for _, e := range d.Events {
			count[e.Type]++
			if e.TrackID != 1 || e.Label != "person" {
				t.Errorf("event %+v", e)
			}
			if e.Type == media.EventCross {
				dir = e.Direction
			}
		}
	}
	want := map[string]int{media.EventNew: 1, media.EventEnter: 1, media.EventExit: 1, media.EventCross: 1}
	for k, v := range want {
		if count[k] != v {
			t.Errorf("%s events %d, want %d (all %v)", k, count[k], v, count)
		}
	}
	// Walking down the line (from y=0 to y=360) one faces south: moving
	// right (east) crosses from the walker's right to left: "out".
	st := s.Stats()
	if dir != media.DirectionOut || st.Counts == nil || st.Counts.Lines["gate"] != (media.LineCount{Out: 1}) ||
		st.Counts.Zones["door"]["person"] != 0 || st.Counts.Objects["person"] != 1 {
		t.Errorf("direction %q, counts %+v", dir, st.Counts)
	}
	// Between results the box is drawn where its motion (250 px/s to the
	// right) puts it at the frame's timestamp, not where it was last seen.
	last := f.PTS
	at := func(pts int64) int {
		v := s.look(time.Now(), pts)
		if len(v.boxes) != 1 || v.boxes[0].TrackID != 1 {
			t.Fatalf("drawn boxes %+v", v.boxes)
		}
		return v.boxes[0].X
	}
	x0, x1 := at(last), at(last+media.ClockRate/5)
	if x0 < 540 || x1-x0 < 40 || x1-x0 > 60 {
		t.Errorf("drawn at x=%d, 0.2 s later at x=%d: want about 50 px further", x0, x1)
	}
}

// New tracker settings start a new tracker, whose ids go on after the old
// one's: a source never hands out an id twice.
func TestTrackIDsContinueAcrossUpdates(t *testing.T) {
	var calls atomic.Int64
	path := [][2]int{{100, 100}}
	p := NewPool(1, func(Config) (Detector, error) { return pathDet{path, &calls}, nil })
	defer p.Close()
	cfg := Config{Detector: DetectorMotion, Tracker: TrackerConfig{Enabled: true}}
	s, err := p.NewStage("ids", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, cancel := s.Subscribe(4)
	defer cancel()
	f := grayFrame(640, 360, 80, 128, 128)
	lastID := func() uint64 {
		var id uint64
		for range 3 { // min_hits 2: confirmed at the second result
			f.PTS += media.ClockRate / 5
			waitFor(t, func() bool { return s.TrySubmit(f) })
			for _, b := range (<-ev).Boxes {
				id = b.TrackID
			}
		}
		return id
	}
	first := lastID()
	cfg.Tracker.MinHits = 3 // a tracker change: new tracker, same source
	if err := s.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if second := lastID(); first != 1 || second != 2 {
		t.Errorf("ids %d then %d, want 1 then 2", first, second)
	}
}

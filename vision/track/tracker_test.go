package track

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
)

const fps5 = 200 * time.Millisecond

type persistCase struct {
	name   string
	scene  scene
	wantID [][]uint64 // per mover
}

// persistCases are objects that must keep one ID each; they also seed
// FuzzTrackerUpdate.
func persistCases() []persistCase {
	walker := mover{label: "person", x: 0, y: 200, w: 60, h: 160, vx: 80}
	return []persistCase{
		{"steady 5 fps", scene{movers: []mover{walker}, frames: 30, dts: []time.Duration{fps5}},
			[][]uint64{{1}}},
		{"misses every third frame", scene{movers: []mover{with(walker, every(3))}, frames: 40, dts: []time.Duration{fps5}},
			[][]uint64{{1}}},
		{"irregular dt 50ms to 1.5s", scene{movers: []mover{walker}, frames: 30,
			dts: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, time.Second,
				60 * time.Millisecond, 300 * time.Millisecond, 1500 * time.Millisecond, 100 * time.Millisecond}},
			[][]uint64{{1}}},
		{"fast car at 20 fps with misses", scene{movers: []mover{{label: "car", y: 300, w: 200, h: 100, vx: 600, seen: every(4)}},
			frames: 60, dts: []time.Duration{50 * time.Millisecond}}, [][]uint64{{1}}},
		{"three abreast, misses", scene{movers: []mover{
			walker, {label: "person", y: 420, w: 60, h: 160, vx: 60, seen: every(4)},
			{label: "person", x: 900, y: 640, w: 64, h: 170, vx: -90, seen: every(5)},
		}, frames: 40, dts: []time.Duration{fps5}}, [][]uint64{{1}, {2}, {3}}},
		{"crossing side by side", scene{movers: []mover{
			{label: "person", x: 0, y: 200, w: 60, h: 160, vx: 150},
			{label: "person", x: 600, y: 230, w: 64, h: 166, vx: -150},
		}, frames: 30, dts: []time.Duration{fps5}}, [][]uint64{{1}, {2}}},
		{"crossing diagonally with a miss at the crossing", scene{movers: []mover{
			{label: "person", x: 0, y: 0, w: 60, h: 160, vx: 100, vy: 60},
			{label: "person", x: 500, y: 0, w: 64, h: 166, vx: -100, vy: 60, seen: func(i int) bool { return i != 12 }},
		}, frames: 30, dts: []time.Duration{fps5}}, [][]uint64{{1}, {2}}},
		{"gap shorter than MaxAge", scene{movers: []mover{with(walker, func(i int) bool { return i < 10 || i >= 18 })},
			frames: 30, dts: []time.Duration{fps5}}, [][]uint64{{1}}},
	}
}

func TestIDsPersist(t *testing.T) {
	for _, c := range persistCases() {
		t.Run(c.name, func(t *testing.T) {
			got := ids(c.scene.run(), len(c.scene.movers))
			if !slicesEqual(got, c.wantID) {
				t.Fatalf("ids per object %v, want %v", got, c.wantID)
			}
		})
	}
}

func with(m mover, seen func(int) bool) mover { m.seen = seen; return m }

func slicesEqual(a, b [][]uint64) bool {
	return slices.EqualFunc(a, b, func(x, y []uint64) bool { return slices.Equal(x, y) })
}

func TestConfirmation(t *testing.T) {
	m := mover{label: "person", x: 100, y: 100, w: 50, h: 120, vx: 30}
	cases := []struct {
		name      string
		minHits   int
		seen      func(int) bool
		wantFirst int // frame the track is first reported, -1 never
	}{
		{"min hits 1 confirms at birth", 1, nil, 0},
		{"min hits 2", 2, nil, 1},
		{"min hits 3", 3, nil, 2},
		{"tentative dies on a miss", 2, frames(0, 2, 4, 6), -1},
		{"retry after a dead tentative", 3, frames(0, 1, 3, 4, 5), 5},
		{"too short to confirm", 5, between(0, 4), -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := scene{cfg: Config{MinHits: c.minHits}, movers: []mover{with(m, c.seen)},
				frames: 10, dts: []time.Duration{fps5}}.run()
			first := -1
			for i, f := range fs {
				if len(f.up.Tracks) > 0 && first < 0 {
					first = i
					if id := f.up.Tracks[0].ID; id != 1 {
						t.Fatalf("first confirmed id %d, want 1", id)
					}
				}
			}
			if first != c.wantFirst {
				t.Fatalf("first reported at frame %d, want %d", first, c.wantFirst)
			}
		})
	}
}

func TestLowScores(t *testing.T) {
	high := mover{label: "person", x: 100, y: 100, w: 50, h: 120, vx: 40, score: 0.9}
	low := high
	low.score = 0.2
	cases := []struct {
		name    string
		seq     []int // per frame: 0 none, 1 high, 2 low
		matched []bool
		count   []int // tracks reported
	}{
		{"low extends a track", []int{1, 1, 2, 2, 2, 1}, []bool{false, true, true, true, true, true}, []int{0, 1, 1, 1, 1, 1}},
		{"low never starts a track", []int{2, 2, 2, 2}, []bool{false, false, false, false}, []int{0, 0, 0, 0}},
		{"low does not revive a lost track", []int{1, 1, 0, 2, 2, 1}, []bool{false, true, false, false, false, true}, []int{0, 1, 1, 1, 1, 1}},
		{"low does not confirm a tentative one", []int{1, 2, 1}, []bool{false, false, false}, []int{0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := New(Config{})
			for i, kind := range c.seq {
				at := t0.Add(time.Duration(i) * fps5)
				var dets []media.Box
				switch kind {
				case 1:
					dets = append(dets, high.box(at))
				case 2:
					dets = append(dets, low.box(at))
				}
				u := tr.Update(at, dets)
				if len(u.Tracks) != c.count[i] {
					t.Fatalf("frame %d: %d tracks, want %d", i, len(u.Tracks), c.count[i])
				}
				if got := len(u.Tracks) > 0 && u.Tracks[0].Matched; got != c.matched[i] {
					t.Fatalf("frame %d: matched %v, want %v", i, got, c.matched[i])
				}
			}
		})
	}
}

func TestLabelSeparation(t *testing.T) {
	tr := New(Config{MinHits: 1})
	box := media.Box{X: 100, Y: 100, W: 80, H: 80, Score: 0.9}
	person, dog := box, box
	person.Label, dog.Label = "person", "dog"
	u := tr.Update(t0, []media.Box{person, dog})
	if len(u.Tracks) != 2 {
		t.Fatalf("%d tracks for two labels on one box, want 2", len(u.Tracks))
	}
	// Only the dog is seen now: the person track must not take it.
	u = tr.Update(t0.Add(fps5), []media.Box{dog})
	for _, tr := range u.Tracks {
		if tr.Matched != (tr.Label == "dog") {
			t.Fatalf("track %d (%s) matched=%v", tr.ID, tr.Label, tr.Matched)
		}
	}
}

func TestEndedOnceAndNoReuse(t *testing.T) {
	tr := New(Config{MaxAge: time.Second})
	m := mover{label: "person", x: 100, y: 100, w: 50, h: 120}
	scores := []float32{0.6, 0.95, 0.7, 0.8}
	seen := map[uint64]bool{}
	var ended []Track
	for i := range 40 {
		at := t0.Add(time.Duration(i) * fps5)
		var dets []media.Box
		// Visible frames 0-3, gone 4-19 (3 s), back 20-23.
		if i%20 < 4 {
			m.score = scores[i%20]
			dets = append(dets, m.box(at))
		}
		u := tr.Update(at, dets)
		for _, k := range u.Tracks {
			seen[k.ID] = true
		}
		for _, k := range u.Ended {
			if slices.ContainsFunc(ended, func(e Track) bool { return e.ID == k.ID }) {
				t.Fatalf("track %d ended twice", k.ID)
			}
			if slices.ContainsFunc(u.Tracks, func(e Track) bool { return e.ID == k.ID }) {
				t.Fatalf("ended track %d still alive", k.ID)
			}
			ended = append(ended, k)
		}
	}
	if len(ended) != 2 || ended[0].ID != 1 || ended[1].ID != 2 || len(seen) != 2 {
		t.Fatalf("ended %v, seen %v: want ids 1 then 2", ended, seen)
	}
	e := ended[0]
	if d := e.Updated.Sub(e.FirstSeen); d != 3*fps5 {
		t.Fatalf("lived %v, want %v", d, 3*fps5)
	}
	if e.BestScore != 0.95 || e.BestBox.Score != 0.95 || e.BestBox.TrackID != 1 || e.Hits != 4 {
		t.Fatalf("best %v %+v hits %d", e.BestScore, e.BestBox, e.Hits)
	}
}

func TestVelocityConverges(t *testing.T) {
	m := mover{label: "car", x: 0, y: 300, w: 200, h: 100, vx: 300, vy: -40}
	fs := scene{movers: []mover{m}, frames: 25, dts: []time.Duration{fps5, 100 * time.Millisecond}}.run()
	last := fs[len(fs)-1].up.Tracks[0]
	if math.Abs(last.Velocity[0]-300) > 15 || math.Abs(last.Velocity[1]+40) > 5 {
		t.Fatalf("velocity %v, want about 300, -40", last.Velocity)
	}
	if last.Box.TrackID != last.ID {
		t.Fatalf("box track id %d, want %d", last.Box.TrackID, last.ID)
	}
}

func TestPredictAt(t *testing.T) {
	tr := Track{
		ID: 7, Box: media.Box{X: 1, Y: 2, W: 3, H: 4, Label: "car", Score: 0.8, ClassID: 2, TrackID: 7},
		Filtered: [4]float64{100, 200, 40, 20}, Velocity: [4]float64{100, -50, 0, -30},
		Updated: t0,
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	cases := []struct {
		name       string
		at         time.Time
		horizon    time.Duration
		x, y, w, h int
	}{
		{"at update", at(0), time.Second, 80, 190, 40, 20},
		{"half a second", at(500 * time.Millisecond), time.Second, 130, 173, 40, 5},
		{"clamped at horizon", at(10 * time.Second), 500 * time.Millisecond, 130, 173, 40, 5},
		{"height never below 1", at(time.Second), time.Second, 180, 150, 40, 1},
		{"before update stays", at(-time.Second), time.Second, 80, 190, 40, 20},
		{"zero horizon", at(time.Second), 0, 80, 190, 40, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := tr.PredictAt(c.at, c.horizon)
			want := media.Box{X: c.x, Y: c.y, W: c.w, H: c.h, Label: "car", Score: 0.8, ClassID: 2, TrackID: 7}
			if b != want {
				t.Fatalf("got %+v, want %+v", b, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		field string // "" when valid
	}{
		{"defaults", Config{}.WithDefaults(), ""},
		{"svm margins", Config{High: 1.5}.WithDefaults(), ""},
		{"min hits 1, max age 0", Config{MinHits: 1, MaxAge: 0}.WithDefaults(), ""},
		{"negative max age", Config{MaxAge: -1}.WithDefaults(), "max_age"},
		{"max age over an hour", Config{MaxAge: time.Hour + 1}.WithDefaults(), "max_age"},
		{"min hits zero without defaults", Config{MaxAge: time.Second, IoU: 0.3, High: 0.5}, "min_hits"},
		{"min hits too many", Config{MinHits: 101}.WithDefaults(), "min_hits"},
		{"iou above 1", Config{IoU: 1.1}.WithDefaults(), "iou"},
		{"iou NaN", Config{IoU: float32(math.NaN())}.WithDefaults(), "iou"},
		{"high negative", Config{High: -0.1}.WithDefaults(), "high"},
		{"high too big", Config{High: 1001}.WithDefaults(), "high"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			var ce *ConfigError
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.field != "" && (!errors.As(err, &ce) || ce.Field != c.field):
				t.Fatalf("error %v, want field %q", err, c.field)
			}
		})
	}
}

func TestUpdateAllocations(t *testing.T) {
	tr, dets, at := benchScene(20)
	step := func() {
		at = at.Add(fps5)
		moveAll(dets, at)
		tr.Update(at, dets)
	}
	for range 10 {
		step()
	}
	// One fresh slice for the result; everything else is reused.
	if n := testing.AllocsPerRun(50, step); n > 1 {
		t.Fatalf("%v allocations per update, want at most 1", n)
	}
}

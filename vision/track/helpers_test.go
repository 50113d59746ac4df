package track

import (
	"math"
	"time"

	"github.com/visiongate/visiongate/media"
)

var t0 = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

// mover is an object moving linearly, as a detector would report it.
type mover struct {
	label      string
	x, y, w, h float64 // box at t0
	vx, vy     float64 // pixels per second
	score      float32
	seen       func(frame int) bool // nil: every frame
}

func (m mover) box(at time.Time) media.Box {
	s := at.Sub(t0).Seconds()
	score := m.score
	if score == 0 {
		score = 0.9
	}
	return media.Box{
		X: int(math.Round(m.x + m.vx*s)), Y: int(math.Round(m.y + m.vy*s)),
		W: int(m.w), H: int(m.h), Label: m.label, Score: score,
	}
}

// scene runs movers through a Tracker for n frames spaced by dts (cycled).
type scene struct {
	cfg    Config
	movers []mover
	frames int
	dts    []time.Duration
}

// frame is what one Update saw and returned.
type frame struct {
	at   time.Time
	dets []media.Box
	idx  []int // mover of each detection
	up   Update
}

func (s scene) run() []frame {
	tr := New(s.cfg)
	at := t0
	out := make([]frame, 0, s.frames)
	for i := range s.frames {
		if i > 0 {
			at = at.Add(s.dts[(i-1)%len(s.dts)])
		}
		f := frame{at: at}
		for j, m := range s.movers {
			if m.seen == nil || m.seen(i) {
				f.dets = append(f.dets, m.box(at))
				f.idx = append(f.idx, j)
			}
		}
		f.up = tr.Update(at, f.dets)
		out = append(out, f)
	}
	return out
}

// ids returns, per mover, the distinct IDs of the tracks matched to it.
func ids(frames []frame, movers int) [][]uint64 {
	out := make([][]uint64, movers)
	for _, f := range frames {
		for _, tr := range f.up.Tracks {
			if !tr.Matched {
				continue
			}
			for k, d := range f.dets {
				b := tr.Box
				b.TrackID = 0
				if b == d && !contains(out[f.idx[k]], tr.ID) {
					out[f.idx[k]] = append(out[f.idx[k]], tr.ID)
				}
			}
		}
	}
	return out
}

func contains(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func every(n int) func(int) bool { return func(i int) bool { return i%n != n-1 } }

func between(from, to int) func(int) bool {
	return func(i int) bool { return i >= from && i < to }
}

func frames(list ...int) func(int) bool {
	return func(i int) bool {
		for _, v := range list {
			if v == i {
				return true
			}
		}
		return false
	}
}

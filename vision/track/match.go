package track

import (
	"cmp"
	"slices"
	"time"

	"github.com/visiongate/visiongate/media"
)

// cand caches what matching needs of a detection.
type cand struct {
	box  [4]float64 // x1, y1, x2, y2
	high bool
}

// pair is a candidate match of track ti with detection di.
type pair struct {
	iou    float64
	ti, di int
}

// match pairs the detections of one class (high or low score) with the
// eligible tracks of the same label, greedily by highest IoU: the best
// pair first, then the best among what is left. Greedy is not optimal like
// the Hungarian method, but it differs only for boxes that overlap several
// others about equally, and for tens of objects it costs a sort.
func (t *Tracker) match(at time.Time, high bool, minIoU float64, eligible func(*trk) bool) {
	t.pairs = t.pairs[:0]
	if !slices.ContainsFunc(t.cands, func(c cand) bool { return c.high == high }) {
		return
	}
	for ti := range t.numTracks() {
		k := t.track(ti)
		if k.seen == t.n || !eligible(k) {
			continue
		}
		for di, c := range t.cands {
			if t.used[di] || c.high != high || t.dets[di].Label != k.Label {
				continue
			}
			if v := iou(k.pred, c.box); v > 0 && v >= minIoU {
				t.pairs = append(t.pairs, pair{v, ti, di})
			}
		}
	}
	// Ties go to the older track, then the earlier detection, so that
	// results do not depend on the sort.
	slices.SortFunc(t.pairs, func(a, b pair) int {
		if c := cmp.Compare(b.iou, a.iou); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ti, b.ti); c != 0 {
			return c
		}
		return cmp.Compare(a.di, b.di)
	})
	for _, p := range t.pairs {
		k := t.track(p.ti)
		if k.seen == t.n || t.used[p.di] {
			continue
		}
		t.used[p.di] = true
		t.hit(k, at, t.dets[p.di])
	}
}

// hit corrects k with the detection d.
func (t *Tracker) hit(k *trk, at time.Time, d media.Box) {
	d.TrackID = k.ID
	k.kf.update(center(d))
	k.Filtered, k.Velocity = k.kf.state()
	k.seen = t.n
	k.Box, k.Score, k.ClassID = d, d.Score, d.ClassID
	k.Matched = true
	k.Updated = at
	k.Hits++
	if d.Score > k.BestScore {
		k.BestScore, k.BestBox = d.Score, d
	}
}

func center(d media.Box) [4]float64 {
	w, h := float64(d.W), float64(d.H)
	return [4]float64{float64(d.X) + w/2, float64(d.Y) + h/2, w, h}
}

func corners(d media.Box) [4]float64 {
	x, y := float64(d.X), float64(d.Y)
	return [4]float64{x, y, x + float64(d.W), y + float64(d.H)}
}

// iou is the intersection over union of two x1, y1, x2, y2 boxes.
func iou(a, b [4]float64) float64 {
	iw := min(a[2], b[2]) - max(a[0], b[0])
	ih := min(a[3], b[3]) - max(a[1], b[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	in := iw * ih
	return in / ((a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - in)
}

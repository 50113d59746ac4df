package analytics

import (
	"fmt"
	"time"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/track"
)

var t0 = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

const step = 200 * time.Millisecond

// square is a zone from (100,100) to (300,300).
var square = [][2]float64{{100, 100}, {300, 100}, {300, 300}, {100, 300}}

// boxAt returns a 20x40 box whose anchor is (x, y).
func boxAt(label string, x, y int) media.Box {
	return media.Box{X: x - 10, Y: y - 40, W: 20, H: 40, Label: label, Score: 0.8}
}

// tracked builds the Track a tracker would report for id at frame i.
func tracked(id uint64, label string, x, y, i int, matched bool) track.Track {
	b := boxAt(label, x, y)
	b.TrackID = id
	return track.Track{ID: id, Label: label, Box: b, Score: b.Score, Matched: matched,
		Updated: t0.Add(time.Duration(i) * step), FirstSeen: t0, Hits: i + 1,
		BestScore: b.Score, BestBox: b}
}

// pos is one position of a path; lost marks a result without a match.
type pos struct {
	x, y int
	lost bool
}

// pathUpdates turns a path of track 1 into tracker updates, ending the
// track after the last position when end is set.
func pathUpdates(label string, path []pos, end bool) []track.Update {
	var out []track.Update
	last := track.Track{}
	for i, p := range path {
		tr := tracked(1, label, p.x, p.y, i, !p.lost)
		if p.lost {
			tr = last
			tr.Matched = false
		}
		last = tr
		out = append(out, track.Update{Tracks: []track.Track{tr}})
	}
	if end {
		out = append(out, track.Update{Ended: []track.Track{last}})
	}
	return out
}

// describe renders an event as "frame type [zone|line direction]".
func describe(frame int, e media.Event) string {
	s := fmt.Sprintf("%d %s", frame, e.Type)
	switch {
	case e.Zone != "":
		s += " " + e.Zone
	case e.Line != "":
		s += " " + e.Line + " " + e.Direction
	}
	return s
}

// run feeds updates to a and describes every event.
func run(a *Analytics, ups []track.Update) []string {
	var got []string
	for i, u := range ups {
		for _, e := range a.Update(t0.Add(time.Duration(i)*step), int64(i), u) {
			got = append(got, describe(i, e))
		}
	}
	return got
}

// horizontal returns positions along y from x0 by dx, n of them.
func horizontal(y, x0, dx, n int) []pos {
	out := make([]pos, n)
	for i := range out {
		out[i] = pos{x: x0 + i*dx, y: y}
	}
	return out
}

func vertical(x int, ys ...int) []pos {
	out := make([]pos, len(ys))
	for i, y := range ys {
		out[i] = pos{x: x, y: y}
	}
	return out
}

package analytics

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/track"
)

// Fuzz input: per update a count byte, then per track 6 bytes: id, flags
// (1 matched, 2 ended instead of alive, 4 label car), anchor x and y as
// int16.
const fuzzTrackLen = 6

func encodeUpdate(u track.Update) []byte {
	out := []byte{byte(len(u.Tracks) + len(u.Ended))}
	put := func(tr track.Track, flags byte) {
		if tr.Matched {
			flags |= 1
		}
		if tr.Label == "car" {
			flags |= 4
		}
		p := anchor(tr.Box)
		b := []byte{byte(tr.ID), flags, 0, 0, 0, 0}
		binary.LittleEndian.PutUint16(b[2:], uint16(int16(p[0])))
		binary.LittleEndian.PutUint16(b[4:], uint16(int16(p[1])))
		out = append(out, b...)
	}
	for _, tr := range u.Tracks {
		put(tr, 0)
	}
	for _, tr := range u.Ended {
		put(tr, 2)
	}
	return out
}

func decodeUpdates(data []byte, fn func(i int, u track.Update)) {
	for i := 0; len(data) > 0; i++ {
		n := int(data[0] % 8)
		data = data[1:]
		var u track.Update
		for ; n > 0 && len(data) >= fuzzTrackLen; n-- {
			label := "person"
			if data[1]&4 != 0 {
				label = "car"
			}
			x := int(int16(binary.LittleEndian.Uint16(data[2:])))
			y := int(int16(binary.LittleEndian.Uint16(data[4:])))
			tr := tracked(uint64(data[0]%6+1), label, x, y, i, data[1]&1 != 0)
			if data[1]&2 != 0 {
				u.Ended = append(u.Ended, tr)
			} else {
				u.Tracks = append(u.Tracks, tr)
			}
			data = data[fuzzTrackLen:]
		}
		fn(i, u)
	}
}

func FuzzAnalytics(f *testing.F) {
	for _, c := range pathCases() {
		var data []byte
		for _, u := range pathUpdates("person", c.path, c.end) {
			data = append(data, encodeUpdate(u)...)
		}
		f.Add(uint8(c.minFrames), len(c.zoneLabels) > 0, data)
	}
	f.Fuzz(func(t *testing.T, minFrames uint8, filter bool, data []byte) {
		c := pathCase{minFrames: int(minFrames % 4)}
		if filter {
			c.zoneLabels, c.lineLabels = []string{"person"}, []string{"car"}
		}
		cfg := c.config()
		cfg.UpdateEvery = 500 * time.Millisecond
		a := New("cam", cfg)
		inside := map[uint64]bool{}
		var lines media.LineCount
		decodeUpdates(data, func(i int, u track.Update) {
			evs := a.Update(t0.Add(time.Duration(i)*step), int64(i), u)
			checkEvents(t, evs, inside, &lines)
			checkCounts(t, a.Counts(), u, lines)
		})
	})
}

var phase = map[string]int{
	media.EventNew: 0, media.EventEnter: 1, media.EventCross: 1, media.EventUpdate: 1,
	media.EventExit: 2, media.EventEnd: 2,
}

// checkEvents verifies the phase order and that each track alternates
// between entering and leaving zone z.
func checkEvents(t *testing.T, evs []media.Event, inside map[uint64]bool, lines *media.LineCount) {
	t.Helper()
	last := 0
	for _, e := range evs {
		if p := phase[e.Type]; p < last {
			t.Fatalf("%s after a phase %d event: %+v", e.Type, last, evs)
		} else {
			last = p
		}
		switch e.Type {
		case media.EventEnter, media.EventExit:
			if in := e.Type == media.EventEnter; inside[e.TrackID] == in {
				t.Fatalf("track %d: %s twice", e.TrackID, e.Type)
			}
			inside[e.TrackID] = e.Type == media.EventEnter
		case media.EventCross:
			if e.Direction == media.DirectionIn {
				lines.In++
			} else {
				lines.Out++
			}
		}
		if e.Box.TrackID != e.TrackID {
			t.Fatalf("event box track id %d, want %d", e.Box.TrackID, e.TrackID)
		}
	}
}

func checkCounts(t *testing.T, c media.Counts, u track.Update, lines media.LineCount) {
	t.Helper()
	total := 0
	for _, n := range c.Objects {
		if n <= 0 {
			t.Fatalf("objects %v", c.Objects)
		}
		total += n
	}
	ids := map[uint64]bool{} // a repeated id counts once
	for _, tr := range u.Tracks {
		ids[tr.ID] = true
	}
	if total != len(ids) {
		t.Fatalf("objects %v for %d tracks", c.Objects, len(ids))
	}
	for _, n := range c.Zones["z"] {
		if n < 0 {
			t.Fatalf("occupancy %v", c.Zones)
		}
	}
	if c.Lines["l"] != lines {
		t.Fatalf("line count %+v, events say %+v", c.Lines["l"], lines)
	}
}

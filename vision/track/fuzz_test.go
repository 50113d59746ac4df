package track

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
)

// Fuzz input: per frame one byte of dt (20 ms units), one byte of count,
// then count boxes of 10 bytes: x, y, w, h as int16, score/200, label.
var fuzzLabels = []string{"person", "car", "dog"}

const fuzzBoxLen = 10

func encodeFrame(dt time.Duration, dets []media.Box) []byte {
	out := []byte{byte(min(dt/(20*time.Millisecond), 255)), byte(len(dets))}
	for _, d := range dets {
		var b [fuzzBoxLen]byte
		for i, v := range []int{d.X, d.Y, d.W, d.H} {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(v)))
		}
		b[8] = byte(min(d.Score*200, 255))
		for i, l := range fuzzLabels {
			if l == d.Label {
				b[9] = byte(i)
			}
		}
		out = append(out, b[:]...)
	}
	return out
}

func decodeFrames(data []byte, fn func(dt time.Duration, dets []media.Box)) {
	var dets []media.Box
	for len(data) >= 2 {
		dt := time.Duration(data[0]) * 20 * time.Millisecond
		n := int(data[1])
		data = data[2:]
		dets = dets[:0]
		for ; n > 0 && len(data) >= fuzzBoxLen; n-- {
			v := func(i int) int { return int(int16(binary.LittleEndian.Uint16(data[2*i:]))) }
			dets = append(dets, media.Box{X: v(0), Y: v(1), W: v(2), H: v(3),
				Score: float32(data[8]) / 200, Label: fuzzLabels[int(data[9])%len(fuzzLabels)]})
			data = data[fuzzBoxLen:]
		}
		fn(dt, dets)
	}
}

func FuzzTrackerUpdate(f *testing.F) {
	for _, c := range persistCases() {
		var data []byte
		var prev time.Time
		for i, fr := range c.scene.run() {
			dt := fr.at.Sub(prev)
			if i == 0 {
				dt = 0
			}
			prev = fr.at
			data = append(data, encodeFrame(dt, fr.dets)...)
		}
		f.Add(uint8(2), data)
	}
	f.Fuzz(func(t *testing.T, minHits uint8, data []byte) {
		tr := New(Config{MinHits: int(minHits%4) + 1, MaxAge: time.Second})
		at := t0
		var maxID uint64
		ended := map[uint64]bool{}
		decodeFrames(data, func(dt time.Duration, dets []media.Box) {
			at = at.Add(dt)
			u := tr.Update(at, dets)
			checkUpdate(t, at, u, &maxID, ended)
		})
	})
}

// checkUpdate verifies that IDs are sorted, new ones exceed every earlier
// one, ended ones never come back, and nothing is NaN.
func checkUpdate(t *testing.T, at time.Time, u Update, maxID *uint64, ended map[uint64]bool) {
	t.Helper()
	var last uint64
	for _, k := range u.Tracks {
		switch {
		case k.ID <= last:
			t.Fatalf("ids out of order: %d after %d", k.ID, last)
		case ended[k.ID]:
			t.Fatalf("id %d reused after its end", k.ID)
		case k.ID > *maxID && k.ID != *maxID+1:
			t.Fatalf("id %d skips from %d", k.ID, *maxID)
		case k.Box.TrackID != k.ID:
			t.Fatalf("box track id %d on track %d", k.Box.TrackID, k.ID)
		}
		last = k.ID
		*maxID = max(*maxID, k.ID)
		checkFinite(t, k, at)
	}
	for _, k := range u.Ended {
		if ended[k.ID] || k.ID > *maxID {
			t.Fatalf("ended id %d unknown or ended twice", k.ID)
		}
		ended[k.ID] = true
	}
}

func checkFinite(t *testing.T, k Track, at time.Time) {
	t.Helper()
	for i := range 4 {
		if math.IsNaN(k.Filtered[i]) || math.IsInf(k.Filtered[i], 0) || math.IsNaN(k.Velocity[i]) || math.IsInf(k.Velocity[i], 0) {
			t.Fatalf("track %d: filtered %v velocity %v", k.ID, k.Filtered, k.Velocity)
		}
	}
	if b := k.PredictAt(at.Add(time.Second), 2*time.Second); b.W < 1 || b.H < 1 {
		t.Fatalf("track %d predicted %+v", k.ID, b)
	}
}

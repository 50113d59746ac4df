package main

import (
	"math/rand/v2"
	"testing"
)

const testTPS = 3000 // 90 kHz at 30 fps

// fakeSend logs every filled slot of a schedule as sent at slot × 33.3 ms.
func fakeSend(slots int) (*schedule, *sendIndex) {
	sch := newSchedule(slots)
	var l sendLog
	for s := range slots {
		if !sch.skipped[s] {
			l.add(sent{slot: int32(s), au: sch.au[s], at: int64(s) * 1e9 / 30})
		}
	}
	return sch, l.snapshot()
}

func TestScheduleGapsAreDistinctWithinACycle(t *testing.T) {
	sch := newSchedule(3 * 1580)
	var gaps []int
	last := -1
	for s, sk := range sch.skipped {
		if sk {
			if last >= 0 {
				gaps = append(gaps, s-last)
			}
			last = s
		}
	}
	seen := map[int]bool{}
	for _, g := range gaps[:gapSpread] {
		if g < minGap || g >= minGap+gapSpread || seen[g] {
			t.Fatalf("gap %d out of range or repeated in %v", g, gaps[:gapSpread])
		}
		seen[g] = true
	}
}

// The matcher recovers the exact latency of every frame whatever the
// output clock's offset, with frames dropped and a rebase midway.
func TestMatchTimestamps(t *testing.T) {
	_, ix := fakeSend(3000)
	rng := rand.New(rand.NewPCG(1, 2))
	var obs []tsObs
	var want []int64
	offset := int64(123456789)
	for _, f := range ix.frames[200:1500] {
		if rng.IntN(50) == 0 {
			continue // dropped by the gateway
		}
		if f.slot == 900 {
			offset += 7 * testTPS // the gateway rebased its timeline
		}
		lat := int64(40e6 + rng.IntN(30e6))
		obs = append(obs, tsObs{ts: int64(f.slot)*testTPS + offset, at: f.at + lat})
		want = append(want, lat)
	}
	lats, unmatched := matchTimestamps(obs, ix, testTPS, 8e9)
	// Only the chunk holding the rebase may lose frames.
	if unmatched > chunkLen || len(lats)+unmatched != len(obs) {
		t.Fatalf("matched %d, unmatched %d of %d", len(lats), unmatched, len(obs))
	}
	for _, l := range lats {
		if l < 40e6 || l >= 70e6 {
			t.Fatalf("latency %d ns outside the true range: a frame was mismatched", l)
		}
	}
	if unmatched == 0 {
		for i := range lats {
			if lats[i] != want[i] {
				t.Fatalf("frame %d: latency %d, want %d", i, lats[i], want[i])
			}
		}
	}
}

// Latencies longer than a frame (many frames in flight) still map to the
// right slot, not to a neighbour.
func TestMatchTimestampsLongLatency(t *testing.T) {
	_, ix := fakeSend(2000)
	var obs []tsObs
	for _, f := range ix.frames[100:600] {
		obs = append(obs, tsObs{ts: int64(f.slot) * testTPS, at: f.at + 1_234e6})
	}
	lats, unmatched := matchTimestamps(obs, ix, testTPS, 8e9)
	if unmatched != 0 {
		t.Fatalf("%d unmatched", unmatched)
	}
	for _, l := range lats {
		if l != 1_234e6 {
			t.Fatalf("latency %d, want 1234 ms", l)
		}
	}
}

func TestMatchCodes(t *testing.T) {
	_, ix := fakeSend(2000)
	var obs []codeObs
	for _, f := range ix.frames[400:700] {
		obs = append(obs, codeObs{code: int(f.au) % 300, at: f.at + 90e6})
	}
	lats, unmatched := matchCodes(obs, ix, 300, 5e9)
	if unmatched != 0 || len(lats) != len(obs) {
		t.Fatalf("matched %d unmatched %d", len(lats), unmatched)
	}
	for _, l := range lats {
		if l != 90e6 {
			t.Fatalf("latency %d, want 90 ms", l)
		}
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(v, 50); p != 5 {
		t.Fatalf("p50 %v", p)
	}
	if p := percentile(v, 99); p != 10 {
		t.Fatalf("p99 %v", p)
	}
}

func TestAttr(t *testing.T) {
	l := `#EXT-X-PART:DURATION=0.20000,URI="a_part5.mp4",INDEPENDENT=YES`
	if u := attr(l, "URI"); u != "a_part5.mp4" {
		t.Fatalf("URI %q", u)
	}
	if d := attr(l, "INDEPENDENT"); d != "YES" {
		t.Fatalf("INDEPENDENT %q", d)
	}
}

package main

import (
	"encoding/json"
	"testing"
)

// TestMatchBrowser: pictures the page reports in wall-clock ms are
// matched to the newest send of their clip frame, 80 ms after it.
func TestMatchBrowser(t *testing.T) {
	sch, ix := fakeSend(900)
	const clipLen = 300
	const wallToMono = int64(1_700_000_000_000_000_000) // the wall clock at the bench's epoch
	var frames [][2]float64
	for s := 400; s < 700; s++ {
		if sch.skipped[s] {
			continue
		}
		wallMS := float64(int64(s)*1e9/30+80e6+wallToMono) / 1e6
		frames = append(frames, [2]float64{float64(int(sch.au[s]) % clipLen), wallMS})
	}
	frames = append(frames, [2]float64{-1, frames[len(frames)-1][1] + 33})
	b, _ := json.Marshal(map[string]any{"frames": frames, "presented": len(frames)})
	var br browserRun
	if err := json.Unmarshal(b, &br); err != nil {
		t.Fatal(err)
	}
	s := matchBrowser(br, ix, clipLen, wallToMono)
	if s.Matched != len(frames)-1 || s.Unmatched != 1 {
		t.Fatalf("matched %d, unmatched %d of %d", s.Matched, s.Unmatched, len(frames))
	}
	// float64 ms of a 2023 wall clock keep about 0.2 µs.
	if s.P50 < 79.99 || s.P50 > 80.01 || s.Max > 80.01 {
		t.Fatalf("latency p50 %.3f max %.3f ms, want 80", s.P50, s.Max)
	}
}

func TestMedianOf(t *testing.T) {
	v := func(f float64) *float64 { return &f }
	rows := [][]*float64{{v(1), nil}, {v(3), v(5)}, {v(2)}}
	if m := medianOf(rows, 0); m == nil || *m != 2 {
		t.Fatalf("median of column 0: %v", m)
	}
	if m := medianOf(rows, 1); m == nil || *m != 5 {
		t.Fatalf("median of column 1: %v", m)
	}
	if medianOf(nil, 0) != nil {
		t.Fatal("median of nothing should be nil")
	}
}

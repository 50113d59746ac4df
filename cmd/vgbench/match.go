package main

import (
	"math"
	"sort"
)

// tsObs is one frame a reader received: its timestamp on the reader's
// 90 kHz clock (unwrapped; any offset) and when it had fully arrived.
type tsObs struct {
	ts int64
	at int64
}

// codeObs is one picture whose burned-in frame code was read.
type codeObs struct {
	code int
	at   int64
}

// chunkLen is how many received frames share one offset search: five
// seconds at 30 fps always hold at least two empty slots (gaps are at most
// 59 slots), and no two stretches of the schedule that short look alike.
const chunkLen = 150

// matchTimestamps maps each received frame to the camera slot it came
// from and returns the latencies (ns) of those it could map.
//
// The output clock is the input clock plus an unknown constant C (which
// can change when visiongate rebases its timeline), so it is found anew
// for each chunk: every slot sent up to maxLat before the chunk's first
// arrival gives a candidate C, and the right one is the only one under
// which every frame of the chunk lands on a slot that was sent, and sent
// before the frame arrived. A wrong C shifts the frames onto empty slots;
// the empty slots' spacing is never repeated within a cycle, so no shift
// short of 52 s avoids them all. An ambiguous chunk is left unmatched.
func matchTimestamps(obs []tsObs, ix *sendIndex, tps, maxLat int64) (lats []int64, unmatched int) {
	for start := 0; start < len(obs); {
		end := start + chunkLen
		if len(obs)-end < chunkLen {
			end = len(obs)
		}
		l, u := matchChunk(obs[start:end], ix, tps, maxLat)
		lats = append(lats, l...)
		unmatched += u
		start = end
	}
	return lats, unmatched
}

func matchChunk(ch []tsObs, ix *sendIndex, tps, maxLat int64) ([]int64, int) {
	first := ch[0]
	bestC, bestMiss, tie := int64(0), len(ch)+1, false
	for i := ix.before(first.at); i >= 0 && first.at-ix.frames[i].at <= maxLat; i-- {
		c := first.ts - int64(ix.frames[i].slot)*tps
		switch m := misses(ch, ix, tps, c, bestMiss); {
		case m < bestMiss:
			bestC, bestMiss, tie = c, m, false
		case m == bestMiss:
			tie = true
		}
	}
	if tie || bestMiss > len(ch)/10 {
		return nil, len(ch)
	}
	var lats []int64
	unmatched := 0
	for _, o := range ch {
		if at, ok := sentAt(ix, o, tps, bestC); ok {
			lats = append(lats, o.at-at)
		} else {
			unmatched++
		}
	}
	return lats, unmatched
}

// misses counts the frames that offset c maps to no sent slot, stopping
// once it passes limit.
func misses(ch []tsObs, ix *sendIndex, tps, c int64, limit int) int {
	m := 0
	for _, o := range ch {
		if _, ok := sentAt(ix, o, tps, c); !ok {
			if m++; m > limit {
				break
			}
		}
	}
	return m
}

// sentAt is when the slot o maps to under offset c was sent, if it was
// sent before o arrived.
func sentAt(ix *sendIndex, o tsObs, tps, c int64) (int64, bool) {
	d := o.ts - c
	slot := floorDiv(d+tps/2, tps)
	if r := d - slot*tps; r > tps/10 || r < -tps/10 {
		return 0, false
	}
	at, ok := ix.bySlot[slot]
	if !ok || at > o.at {
		return 0, false
	}
	return at, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// matchCodes maps each picture to the newest sent access unit with its
// code (the clip's frame number) no more than maxLat before it arrived;
// maxLat must be shorter than the clip for the answer to be unique.
func matchCodes(obs []codeObs, ix *sendIndex, clipLen int, maxLat int64) (lats []int64, unmatched int) {
	for _, o := range obs {
		found := false
		for i := ix.before(o.at); i >= 0 && o.at-ix.frames[i].at <= maxLat; i-- {
			if int(ix.frames[i].au)%clipLen == o.code {
				lats = append(lats, o.at-ix.frames[i].at)
				found = true
				break
			}
		}
		if !found {
			unmatched++
		}
	}
	return lats, unmatched
}

// latencyStats summarises latencies in milliseconds.
type latencyStats struct {
	Received  int     `json:"received"`
	Matched   int     `json:"matched"`
	Unmatched int     `json:"unmatched"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	Min       float64 `json:"min_ms"`
	Max       float64 `json:"max_ms"`
	Note      string  `json:"note,omitempty"`
}

func summarize(lats []int64, unmatched int) latencyStats {
	s := latencyStats{Received: len(lats) + unmatched, Matched: len(lats), Unmatched: unmatched}
	if len(lats) == 0 {
		return s
	}
	ms := make([]float64, len(lats))
	for i, l := range lats {
		ms[i] = float64(l) / 1e6
	}
	sort.Float64s(ms)
	s.P50, s.P95, s.P99 = percentile(ms, 50), percentile(ms, 95), percentile(ms, 99)
	s.Min, s.Max = round2(ms[0]), round2(ms[len(ms)-1])
	return s
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	r := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return round2(sorted[max(0, min(r, len(sorted)-1))])
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

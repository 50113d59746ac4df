package main

import (
	"sort"
	"sync"
	"time"
)

// The bench camera sends one access unit per slot of 1/fps seconds, but
// leaves some slots empty: slot firstSkip, then gaps of 20, 37, 54, 31, …
// slots (20 + 17k mod 40: every value from 20 to 59 once per cycle of 40
// gaps, 1580 slots, 52.7 s at 30 fps). Its RTP timestamps follow the slots,
// so an empty slot is a one-frame hole in the timeline that visiongate
// keeps (its output clock is the input's plus a constant), and the pattern
// of holes in any few seconds of output says which input slots they were.
// That is how frames are matched without touching the picture.
const (
	firstSkip   = 45
	minGap      = 20
	gapSpread   = 40
	gapStride   = 17 // coprime with gapSpread: every distance once a cycle
	ticksPerSec = 90000
)

// schedule says which slots are empty and which access unit each other
// slot carries.
type schedule struct {
	skipped []bool
	au      []int32 // index of the access unit sent in the slot; -1 if empty
}

func newSchedule(slots int) *schedule {
	s := &schedule{skipped: make([]bool, slots), au: make([]int32, slots)}
	p := firstSkip
	for k := 0; p < slots; k++ {
		s.skipped[p] = true
		p += minGap + (k*gapStride)%gapSpread
	}
	var i int32
	for slot := range slots {
		if s.skipped[slot] {
			s.au[slot] = -1
			continue
		}
		s.au[slot] = i
		i++
	}
	return s
}

// sent is one slot the camera filled, with when its last packet was queued
// (nanoseconds on the bench's monotonic clock).
type sent struct {
	slot int32
	au   int32
	at   int64
}

// sendLog is what the camera sent; readers' arrivals are matched against
// it after each measurement window.
type sendLog struct {
	mu     sync.Mutex
	frames []sent // in slot order
}

func (l *sendLog) add(s sent) {
	l.mu.Lock()
	l.frames = append(l.frames, s)
	l.mu.Unlock()
}

func (l *sendLog) snapshot() *sendIndex {
	l.mu.Lock()
	defer l.mu.Unlock()
	fr := append([]sent(nil), l.frames...)
	ix := &sendIndex{frames: fr, bySlot: make(map[int64]int64, len(fr))}
	for _, f := range fr {
		ix.bySlot[int64(f.slot)] = f.at
	}
	return ix
}

// sendIndex is a frozen copy of the log for matching.
type sendIndex struct {
	frames []sent
	bySlot map[int64]int64
}

// before returns the index in frames of the last frame sent at or before
// at, or -1.
func (ix *sendIndex) before(at int64) int {
	return sort.Search(len(ix.frames), func(i int) bool { return ix.frames[i].at > at }) - 1
}

// epoch is the bench's clock origin; now() is monotonic nanoseconds since.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

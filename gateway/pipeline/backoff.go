package pipeline

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff bounds the wait between attempts.
type Backoff struct {
	Min, Max time.Duration
	// Probe is how often the source's host is probed while a longer wait
	// runs (see waiter); 0 means every second, negative never.
	Probe time.Duration
}

// backoff is the schedule of waits between a source's attempts: Min,
// doubling up to Max, back to Min after an attempt that produced video;
// each wait is jittered by ±20% so many sources do not retry in step.
type backoff struct {
	min, max time.Duration
	next     time.Duration
	rand     func() float64 // in [0, 1)
}

func newBackoff(b Backoff) *backoff {
	return &backoff{min: b.Min, max: b.Max, next: b.Min, rand: rand.Float64}
}

// after returns the wait after a failed attempt; produced tells whether
// the attempt made any video.
func (b *backoff) after(produced bool) time.Duration {
	if produced {
		b.next = b.min
	}
	d := b.jitter(b.next)
	b.next = min(b.next*2, b.max)
	return d
}

// jitter spreads retries of many sources by ±20%.
func (b *backoff) jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*b.rand()))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

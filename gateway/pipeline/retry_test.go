package pipeline

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// A source that never answers is retried with waits doubling from Min to
// Max and staying there; each attempt is counted, with its error, while
// the source is retrying.
func TestBackoffGrowsToItsCapAndCountsAttempts(t *testing.T) {
	w := &stepWaiter{reqs: make(chan waitReq)}
	p, _, _ := newScripted(t, Backoff{Min: time.Second, Max: 30 * time.Second}, w)
	p.Start()
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i, d := range want {
		r := w.next(t, p)
		if r.d != d*time.Second {
			t.Errorf("wait %d = %v, want %v", i+1, r.d, d*time.Second)
		}
		st := p.Stats()
		if st.Attempts != i+1 || st.State != StateRetrying || !strings.Contains(st.LastError, "refused") {
			t.Errorf("during wait %d: attempts %d, state %s, error %q", i+1, st.Attempts, st.State, st.LastError)
		}
		r.resume <- true
	}
}

// An attempt that produced video starts the backoff over at Min.
func TestBackoffStartsOverAfterAGoodRun(t *testing.T) {
	w := &stepWaiter{reqs: make(chan waitReq)}
	p, _, _ := newScripted(t, Backoff{Min: time.Second, Max: 30 * time.Second}, w,
		refused(), refused(), refused(), run25(0, 10, errors.New("stream ended")))
	p.Start()
	want := []time.Duration{1, 2, 4, 1, 2, 4}
	for i, d := range want {
		r := w.next(t, p)
		if r.d != d*time.Second {
			t.Errorf("wait %d = %v, want %v", i+1, r.d, d*time.Second)
		}
		r.resume <- true
	}
	if st := p.Stats(); st.FramesOut != 10 {
		t.Errorf("frames out %d, want the good run's 10", st.FramesOut)
	}
}

// Jitter keeps every wait within ±20% of the schedule, and uses that
// range.
func TestJitterBounds(t *testing.T) {
	const d = 10 * time.Second
	for _, c := range []struct {
		r    float64
		want time.Duration
	}{{0, 8 * time.Second}, {0.5, d}, {0.25, 9 * time.Second}} {
		b := &backoff{rand: func() float64 { return c.r }}
		if got := b.jitter(d); got != c.want {
			t.Errorf("jitter(%v) with rand %v = %v, want %v", d, c.r, got, c.want)
		}
	}
	b := &backoff{rand: rand.Float64}
	lo, hi := d, d
	for range 10000 {
		got := b.jitter(d)
		if got < 8*time.Second || got >= 12*time.Second {
			t.Fatalf("jitter(%v) = %v, outside [8s, 12s)", d, got)
		}
		lo, hi = min(lo, got), max(hi, got)
	}
	if lo > 8500*time.Millisecond || hi < 11500*time.Millisecond {
		t.Errorf("10000 jittered waits spanned only %v..%v", lo, hi)
	}
}

// Errors that retrying cannot fix, and local inputs that end, stop the
// retries: no wait, one attempt, the state says why.
func TestFinalErrorsAreNotRetried(t *testing.T) {
	cases := []struct {
		name  string
		step  step
		state string
	}{
		{"permanent open error", step{openErr: fmt.Errorf("%w: no whitelist", errPermanent)}, StateFailed},
		{"input finished", run25(0, 3, errFinished), StateStopped},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &instantWaiter{}
			p, _, sc := newScripted(t, Backoff{}, w, c.step)
			p.Start()
			waitDone(t, p)
			if st := p.Stats(); st.State != c.state || st.Attempts != 1 || len(w.waits) != 0 || sc.opens != 1 {
				t.Errorf("state %s, attempts %d, waits %v, opens %d", st.State, st.Attempts, w.waits, sc.opens)
			}
		})
	}
}

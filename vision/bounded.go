package vision

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Default bounds on native calls. A model load or a detection that takes
// longer is abandoned with an error; the worker moves on.
const (
	DefaultLoadTimeout   = 60 * time.Second
	DefaultDetectTimeout = 30 * time.Second
)

// TimeoutError reports a native call that was abandoned.
type TimeoutError struct {
	Op    string
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("vision: %s took longer than %s and was abandoned", e.Op, e.After)
}

// strays counts abandoned calls still running, process wide.
var strays atomic.Int64

// StrayCalls is how many abandoned native calls have not returned yet.
func StrayCalls() int64 { return strays.Load() }

// bounded runs fn on its own goroutine and waits at most d. On a timeout
// the call is abandoned: fn's goroutine then owns its result and hands it
// to late (which frees it) when fn finally returns. A native call cannot
// be interrupted; this keeps it from holding its caller forever.
func bounded[T any](d time.Duration, fn func() T, late func(T)) (T, bool) {
	var (
		mu        sync.Mutex
		abandoned bool
		v         T
	)
	done := make(chan struct{})
	go func() {
		r := fn()
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			strays.Add(-1)
			late(r)
			return
		}
		v = r
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return v, true
	case <-t.C:
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case <-done:
		return v, true
	default:
	}
	abandoned = true
	strays.Add(1)
	var zero T
	return zero, false
}

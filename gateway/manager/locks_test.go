package manager

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

const blocked = 5 * time.Second

// removeSlowly starts removing name, whose pipeline stops only when the
// returned release is called, and waits until its Stop has begun. The
// returned channel gets Remove's result.
func (h *harness) removeSlowly(name string, gate chan struct{}) <-chan error {
	h.t.Helper()
	runners := h.pipes.made(name)
	r := runners[len(runners)-1]
	res := make(chan error, 1)
	go func() { res <- h.Remove(name) }()
	select {
	case <-r.stopping:
	case <-time.After(blocked):
		h.t.Fatalf("Remove(%s) did not reach Stop within %v", name, blocked)
	}
	return res
}

// While one source's pipeline takes its time to stop, every operation on
// other sources goes ahead.
func TestSlowStopDoesNotBlockOtherSources(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	gate := h.pipes.slowStop("slow")
	h.addRunning(src("slow", "rtsp://cam.test/slow"))
	h.addRunning(src("other", "rtsp://cam.test/other"))
	t.Cleanup(func() { close(gate) }) // runs before the harness's Close
	removed := h.removeSlowly("slow", gate)

	within(t, blocked, "Add(new) during a slow stop", func() {
		if _, err := h.Add(src("new", "rtsp://cam.test/new")); err != nil {
			t.Errorf("Add = %v", err)
		}
	})
	within(t, blocked, "Update(other) during a slow stop", func() {
		if _, err := h.Update("other", json.RawMessage(`{"url":"rtsp://cam.test/changed"}`)); err != nil {
			t.Errorf("Update = %v", err)
		}
	})
	within(t, blocked, "Remove(other) during a slow stop", func() {
		if err := h.Remove("other"); err != nil {
			t.Errorf("Remove = %v", err)
		}
	})
	within(t, blocked, "List during a slow stop", func() { h.List() })
	select {
	case err := <-removed:
		t.Fatalf("Remove(slow) returned (%v) before its pipeline stopped", err)
	default:
	}
}

// A change of the same name waits for the slow stop: the source re-added
// while its old pipeline is stopping starts only after that pipeline is
// gone.
func TestReAddWaitsForTheSlowStopOfTheSameName(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	gate := h.pipes.slowStop("a")
	h.addRunning(src("a", "rtsp://cam.test/a"))
	released := false
	t.Cleanup(func() {
		if !released {
			close(gate)
		}
	})
	removed := h.removeSlowly("a", gate)
	added := make(chan error, 1)
	go func() { _, err := h.Add(src("a", "rtsp://cam.test/a2")); added <- err }()
	h.waitLockWaiters("a", 2)
	close(gate)
	released = true
	if err := <-removed; err != nil {
		t.Fatalf("Remove = %v", err)
	}
	if err := <-added; err != nil {
		t.Fatalf("Add during the removal = %v, want success once the old pipeline stopped", err)
	}
	if stop, start := h.log.index("stop-end a#1"), h.log.index("start a#2"); stop < 0 || start < stop {
		t.Errorf("the new pipeline started (event %d) before the old one stopped (event %d)", start, stop)
	}
	if n := h.pipes.running("a"); n != 1 {
		t.Errorf("%d pipelines of a running, want 1", n)
	}
}

// waitLockWaiters polls until n operations hold or wait for name's lock.
func (h *harness) waitLockWaiters(name string, n int) {
	h.t.Helper()
	deadline := time.Now().Add(blocked)
	for time.Now().Before(deadline) {
		h.names.mu.Lock()
		got := 0
		if l := h.names.locks[name]; l != nil {
			got = l.refs
		}
		h.names.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	h.t.Fatalf("fewer than %d operations on %s's lock within %v", n, name, blocked)
}

// Close waits for a change in flight, refuses new ones at once meanwhile,
// and leaves no pipeline running.
func TestCloseWaitsForChangesInFlight(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	gate := h.pipes.slowStop("slow")
	h.addRunning(src("slow", "rtsp://cam.test/slow"))
	h.addRunning(src("b", "rtsp://cam.test/b"))
	released := false
	t.Cleanup(func() {
		if !released {
			close(gate)
		}
	})
	removed := h.removeSlowly("slow", gate)
	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	h.waitClosed()
	within(t, blocked, "Add while closing", func() {
		if _, err := h.Add(src("c", "rtsp://cam.test/c")); !errors.Is(err, ErrClosed) {
			t.Errorf("Add while closing = %v, want ErrClosed", err)
		}
	})
	select {
	case <-closed:
		t.Fatal("Close returned while a removal was still stopping its pipeline")
	default:
	}
	close(gate)
	released = true
	<-removed
	<-closed
	for _, name := range []string{"slow", "b", "c"} {
		if n := h.pipes.running(name); n != 0 {
			t.Errorf("%d pipelines of %s running after Close", n, name)
		}
	}
	if err := h.Remove("b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove after Close = %v, want ErrNotFound", err)
	}
}

// waitClosed polls until Close has begun.
func (h *harness) waitClosed() {
	h.t.Helper()
	deadline := time.Now().Add(blocked)
	for time.Now().Before(deadline) {
		h.mu.RLock()
		c := h.closed
		h.mu.RUnlock()
		if c {
			return
		}
		time.Sleep(time.Millisecond)
	}
	h.t.Fatalf("Close did not begin within %v", blocked)
}

// The per-name locks are dropped once nobody holds them.
func TestNameLocksAreDropped(t *testing.T) {
	var l nameLocks
	u1 := l.lock("a")
	u2 := l.lock("b")
	u1()
	u2()
	if n := len(l.locks); n != 0 {
		t.Errorf("%d locks left", n)
	}
}

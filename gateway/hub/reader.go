package hub

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/visiongate/visiongate/media"
)

// Reader receives the units published to a hub after it subscribed,
// starting at the next IDR. A Reader is meant to be consumed by one
// goroutine; Close and Dropped may be called from any goroutine.
type Reader struct {
	h       *Hub
	dropped atomic.Uint64
	notify  chan struct{} // cap 1: "the ring may have changed"
	done    chan struct{} // closed when the reader or its hub is closed

	mu      sync.Mutex
	ring    []*media.AccessUnit
	head, n int
	skip    bool // waiting for an IDR
	started bool // has seen its first IDR, so skipping now counts as dropping
	closed  bool
}

// Next returns the next unit, blocking until one is available. It returns
// ctx.Err() when ctx ends and ErrClosed once the reader or its hub is closed.
func (r *Reader) Next(ctx context.Context) (*media.AccessUnit, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if au, err := r.pop(); au != nil || err != nil {
			return au, err
		}
		select {
		case <-r.notify:
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Dropped returns how many units this reader lost to overflow, including the
// non-IDR units it skipped while resynchronising.
func (r *Reader) Dropped() uint64 { return r.dropped.Load() }

// Close unsubscribes the reader and wakes a blocked Next. Calling it again
// does nothing.
func (r *Reader) Close() {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	r.h.removeLocked(r)
	r.closeLocked()
}

func (r *Reader) pop() (*media.AccessUnit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.n == 0 {
		return nil, nil
	}
	au := r.ring[r.head]
	r.ring[r.head] = nil
	r.head = (r.head + 1) % len(r.ring)
	r.n--
	return au, nil
}

// push enqueues au; the hub's mutex is held, so pushes are serialised.
func (r *Reader) push(au *media.AccessUnit) {
	if r.enqueue(au) {
		select {
		case r.notify <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// enqueue applies the skip-to-IDR and overflow policy; it reports whether au
// was queued.
func (r *Reader) enqueue(au *media.AccessUnit) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.n == len(r.ring) {
		// Overflow: discard the backlog and resynchronise at an IDR so the
		// reader jumps back to live with a decodable sequence.
		r.dropped.Add(uint64(r.n))
		r.resetLocked()
		r.skip = true
	}
	if r.skip {
		if !au.IDR {
			if r.started {
				r.dropped.Add(1)
			}
			return false
		}
		r.skip = false
		r.started = true
	}
	r.ring[(r.head+r.n)%len(r.ring)] = au
	r.n++
	return true
}

// closeLocked marks the reader closed; the hub's mutex is held.
func (r *Reader) closeLocked() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.done)
	r.resetLocked()
}

// resetLocked empties the ring, releasing the units for the GC.
func (r *Reader) resetLocked() {
	clear(r.ring)
	r.head, r.n = 0, 0
}

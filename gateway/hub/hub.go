// Package hub fans out one source's encoded access units to many readers
// (RTSP, HLS, MJPEG, ...). Publish never blocks: every reader owns a bounded
// ring, and a reader that falls behind loses units, never the publisher or
// the other readers.
//
// Overflow policy: when a unit arrives and a reader's ring is full, the
// reader's whole queue is discarded along with the new unit, and the reader
// then skips units until the next IDR. Readers therefore always see a
// decodable sequence (no missing references) and catch up to live instead of
// playing stale frames. Every unit a reader loses this way is counted in
// Reader.Dropped. A new reader likewise starts at the next IDR (units skipped
// before its first IDR are not counted as dropped).
package hub

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/visiongate/visiongate/media"
)

// DefaultRingSize is the ring length used when Subscribe gets ringSize <= 0.
const DefaultRingSize = 256

// ErrClosed is returned by Next and WaitInfo once the hub (or the reader)
// has been closed.
var ErrClosed = errors.New("hub closed")

// Hub is the fan-out point of one source. Its methods are safe for
// concurrent use.
type Hub struct {
	name string

	mu      sync.Mutex
	readers []*Reader
	latest  *media.AccessUnit
	keyInfo *media.StreamInfo
	closed  bool

	// demand (demand.go)
	onDemand   bool
	grace      time.Duration
	wants      int
	lastWant   time.Time
	audioWants map[media.Codec]*int
	// keyframeWanted: a reader asked for an IDR (RequestKeyframe).
	keyframeWanted bool

	infoReady chan struct{} // closed at the first IDR with Info
	done      chan struct{} // closed by Close
}

// New returns an open hub.
func New(name string) *Hub {
	return &Hub{
		name:       name,
		grace:      DefaultGrace,
		infoReady:  make(chan struct{}),
		done:       make(chan struct{}),
		audioWants: map[media.Codec]*int{},
	}
}

// Name returns the name given to New.
func (h *Hub) Name() string { return h.name }

// Publish hands au to every reader. It never blocks on readers and does not
// allocate. au must not be modified afterwards. Publish is a no-op after
// Close or with a nil unit.
func (h *Hub) Publish(au *media.AccessUnit) {
	if au == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.latest = au
	if au.IDR && au.Info != nil {
		if h.keyInfo == nil {
			close(h.infoReady)
		}
		h.keyInfo = au.Info
	}
	for _, r := range h.readers {
		r.push(au)
	}
}

// Subscribe adds a reader whose ring holds ringSize units (DefaultRingSize
// when ringSize <= 0). On a closed hub the reader's Next returns ErrClosed.
func (h *Hub) Subscribe(ringSize int) *Reader {
	if ringSize <= 0 {
		ringSize = DefaultRingSize
	}
	r := &Reader{
		h:      h,
		ring:   make([]*media.AccessUnit, ringSize),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		skip:   true,
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		r.closeLocked()
		return r
	}
	h.readers = append(h.readers, r)
	return r
}

// Latest returns the last published unit, or nil.
func (h *Hub) Latest() *media.AccessUnit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.latest
}

// LastKeyframeInfo returns the Info of the newest IDR unit, or nil. It lets a
// publisher learn the parameter sets before any reader shows up.
func (h *Hub) LastKeyframeInfo() *media.StreamInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keyInfo
}

// WaitInfo blocks until an IDR unit with Info has been published and returns
// the newest such Info. It returns ctx.Err() when ctx ends first and ErrClosed
// when the hub is closed.
func (h *Hub) WaitInfo(ctx context.Context) (*media.StreamInfo, error) {
	select {
	case <-h.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.infoReady:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	return h.keyInfo, nil
}

// Readers returns the number of subscribed readers.
func (h *Hub) Readers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.readers)
}

// Close stops the hub: Publish becomes a no-op, and every reader's Next
// (including one blocked now) returns ErrClosed without draining its ring.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.done)
	for _, r := range h.readers {
		r.closeLocked()
	}
	h.readers = nil
}

// remove unsubscribes r; h.mu must be held.
func (h *Hub) removeLocked(r *Reader) {
	for i, x := range h.readers {
		if x == r {
			last := len(h.readers) - 1
			h.readers[i] = h.readers[last]
			h.readers[last] = nil
			h.readers = h.readers[:last]
			return
		}
	}
}

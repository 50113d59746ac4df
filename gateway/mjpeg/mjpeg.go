// Package mjpeg fans JPEG pictures of one source out to MJPEG viewers and
// snapshot requests. Each distinct width is encoded once for all viewers
// of it, and only while someone wants it. Viewers always get the newest
// picture: a slow viewer skips pictures, it never queues them.
package mjpeg

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned once the hub is closed (source removed).
var ErrClosed = errors.New("mjpeg: source closed")

// Picture is one encoded JPEG. Shared by every viewer: read only.
type Picture struct {
	JPEG   []byte
	Width  int
	Height int
	PTS    int64
	Seq    uint64 // increases with every picture of a width
	Time   time.Time
}

// Hub belongs to one source. The pipeline asks Wanted() before encoding
// and Publishes results; viewers Subscribe.
type Hub struct {
	mu       sync.Mutex
	latest   map[int]*Picture // by requested width; 0 = source size
	wants    map[int]int      // width → viewers
	oneShots map[int]int      // width → snapshot requests waiting
	changed  chan struct{}    // closed and replaced on every publish
	closed   bool
	srcW     int // source width, once known: widths snap against it
}

// New creates an empty hub.
func New() *Hub {
	return &Hub{latest: map[int]*Picture{}, wants: map[int]int{}, oneShots: map[int]int{},
		changed: make(chan struct{})}
}

// Wanted lists the widths someone is waiting for; empty means no JPEG
// work at all. The returned slice is fresh.
func (h *Hub) Wanted() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ws []int
	for w, n := range h.wants {
		if n > 0 {
			ws = append(ws, w)
		}
	}
	for w, n := range h.oneShots {
		if n > 0 && h.wants[w] == 0 {
			ws = append(ws, w)
		}
	}
	return ws
}

// Active tells cheaply whether any viewer or snapshot wants pictures.
func (h *Hub) Active() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.wants) > 0 || len(h.oneShots) > 0
}

// Publish stores the newest picture of a width and wakes its viewers.
func (h *Hub) Publish(width int, p *Picture) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if prev := h.latest[width]; prev != nil {
		p.Seq = prev.Seq + 1
	} else {
		p.Seq = 1
	}
	h.latest[width] = p
	delete(h.oneShots, width)
	close(h.changed)
	h.changed = make(chan struct{})
}

// Viewers counts MJPEG viewers across widths.
func (h *Hub) Viewers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.viewersLocked()
}

func (h *Hub) viewersLocked() int {
	n := 0
	for _, c := range h.wants {
		n += c
	}
	return n
}

// Close wakes every waiter with ErrClosed.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.changed)
	}
}

// Viewer follows the newest pictures of one width.
type Viewer struct {
	hub   *Hub
	width int
	seq   uint64
	once  sync.Once
}

// Subscribe registers a viewer; until Close, pictures of width (snapped,
// see Snap) are made.
func (h *Hub) Subscribe(width int) *Viewer {
	v, _ := h.TrySubscribe(width, 0)
	return v
}

// TrySubscribe is Subscribe unless the hub already has max viewers (0: no
// limit); the count and the registration are one step, so concurrent
// viewers cannot overshoot the limit.
func (h *Hub) TrySubscribe(width, max int) (*Viewer, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if max > 0 && h.viewersLocked() >= max {
		return nil, false
	}
	width = h.snapLocked(width)
	h.wants[width]++
	return &Viewer{hub: h, width: width}, true
}

// Next waits for a picture newer than the last one this viewer got.
func (v *Viewer) Next(ctx context.Context) (*Picture, error) {
	p, err := v.hub.waitNewer(ctx, v.width, v.seq)
	if err == nil {
		v.seq = p.Seq
	}
	return p, err
}

// Close unregisters the viewer. Safe to call twice.
func (v *Viewer) Close() {
	v.once.Do(func() {
		v.hub.mu.Lock()
		v.hub.wants[v.width]--
		if v.hub.wants[v.width] <= 0 {
			delete(v.hub.wants, v.width)
			v.hub.evictLocked(v.width)
		}
		v.hub.mu.Unlock()
	})
}

// Snapshot returns a picture of width no older than maxAge, asking the
// pipeline for one when there is none.
func (h *Hub) Snapshot(ctx context.Context, width int, maxAge time.Duration) (*Picture, error) {
	h.mu.Lock()
	width = h.snapLocked(width)
	p := h.latest[width]
	if p != nil && time.Since(p.Time) <= maxAge {
		h.mu.Unlock()
		return p, nil
	}
	var seq uint64
	if p != nil {
		seq = p.Seq
	}
	h.oneShots[width]++
	h.mu.Unlock()
	defer h.doneWaiting(width)
	return h.waitNewer(ctx, width, seq)
}

func (h *Hub) doneWaiting(width int) {
	h.mu.Lock()
	if h.oneShots[width] > 0 {
		h.oneShots[width]--
	}
	if h.oneShots[width] == 0 {
		delete(h.oneShots, width)
	}
	h.mu.Unlock()
}

// evictLocked drops the kept picture of a scaled width nobody wants any
// more (the source size stays, for quick snapshots).
func (h *Hub) evictLocked(width int) {
	if width != 0 && h.wants[width] == 0 && h.oneShots[width] == 0 {
		delete(h.latest, width)
	}
}

func (h *Hub) waitNewer(ctx context.Context, width int, seq uint64) (*Picture, error) {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		p, ch := h.latest[width], h.changed
		h.mu.Unlock()
		if p != nil && p.Seq > seq {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

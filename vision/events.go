package vision

import (
	"sync"
	"sync/atomic"

	"github.com/visiongate/visiongate/media"
)

// events fans detection results out to subscribers without ever waiting:
// a subscriber whose buffer is full misses the event (counted).
type events struct {
	mu      sync.Mutex
	subs    map[uint64]chan media.Detections
	next    uint64
	closed  bool
	dropped atomic.Uint64
}

func (e *events) subscribe(buf int) (<-chan media.Detections, func()) {
	ch := make(chan media.Detections, max(buf, 1))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		close(ch)
		return ch, func() {}
	}
	if e.subs == nil {
		e.subs = map[uint64]chan media.Detections{}
	}
	id := e.next
	e.next++
	e.subs[id] = ch
	var once sync.Once
	return ch, func() { once.Do(func() { e.remove(id) }) }
}

func (e *events) remove(id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch, ok := e.subs[id]; ok {
		delete(e.subs, id)
		close(ch)
	}
}

func (e *events) publish(d media.Detections) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ch := range e.subs {
		select {
		case ch <- d:
		default:
			e.dropped.Add(1)
		}
	}
}

// close ends every subscription (their channels close).
func (e *events) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for id, ch := range e.subs {
		delete(e.subs, id)
		close(ch)
	}
}

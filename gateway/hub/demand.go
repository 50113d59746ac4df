package hub

import (
	"sync"
	"time"

	"github.com/visiongate/visiongate/media"
)

// DefaultGrace is how long a hub stays wanted after its last client left:
// viewers that come and go quickly do not restart the encoder each time.
const DefaultGrace = 10 * time.Second

// SetOnDemand says whether the hub's units are produced only while wanted
// (true) or always (false, the default of a new hub). grace <= 0 takes
// DefaultGrace.
func (h *Hub) SetOnDemand(onDemand bool, grace time.Duration) {
	if grace <= 0 {
		grace = DefaultGrace
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onDemand, h.grace = onDemand, grace
}

// OnDemand reports whether units are produced only while wanted.
func (h *Hub) OnDemand() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.onDemand
}

// Want registers a client that needs the units (an RTSP reader, an HLS
// muxer, a request waiting for the stream). The returned release ends it;
// calling it more than once is harmless.
func (h *Hub) Want() (release func()) {
	return h.count(&h.wants, func() { h.lastWant = time.Now() })
}

// count adds a client to *n and returns its release, which takes it off
// once and runs left (under the lock).
func (h *Hub) count(n *int, left func()) func() {
	h.mu.Lock()
	*n++
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			*n--
			left()
		})
	}
}

// Wanted tells the producer whether to produce units now: always for a hub
// that is not on demand, else while a client wants them or within the
// grace period after the last one left.
func (h *Hub) Wanted() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.onDemand || h.wants > 0 || (!h.lastWant.IsZero() && time.Since(h.lastWant) < h.grace)
}

// WantAudio registers a client that needs the sound in codec c (AAC for
// LL-HLS, Opus for WebRTC): a camera's sound in another codec is
// transcoded while one exists. release ends it.
func (h *Hub) WantAudio(c media.Codec) (release func()) {
	h.mu.Lock()
	n := h.audioWants[c]
	if n == nil {
		n = new(int)
		h.audioWants[c] = n
	}
	h.mu.Unlock()
	return h.count(n, func() {})
}

// AudioWanted tells the producer whether to transcode the sound to c.
func (h *Hub) AudioWanted(c media.Codec) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.audioWants[c]
	return n != nil && *n > 0
}

// Wants counts the clients that want the units now.
func (h *Hub) Wants() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wants
}

// RequestKeyframe asks the producer for an IDR soon: a reader that just
// started playing then sees video without waiting for the next GOP.
func (h *Hub) RequestKeyframe() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keyframeWanted = true
}

// TakeKeyframeRequest reports a pending RequestKeyframe and clears it.
func (h *Hub) TakeKeyframeRequest() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	wanted := h.keyframeWanted
	h.keyframeWanted = false
	return wanted
}

package mjpeg

import (
	"sync"
	"testing"
)

func TestSnap(t *testing.T) {
	h := New()
	h.SetSourceWidth(1280)
	for _, tc := range []struct{ ask, want int }{
		{0, 0}, {1280, 0}, {5000, 0}, {1279, 0},
		{16, 160}, {160, 160}, {161, 320}, {400, 426}, {427, 480}, {640, 640}, {641, 960}, {961, 0},
	} {
		if got := h.Snap(tc.ask); got != tc.want {
			t.Errorf("Snap(%d) = %d, want %d", tc.ask, got, tc.want)
		}
	}
}

// Viewers asking for a thousand different widths share a few encodings,
// and the pictures of widths nobody watches any more are let go.
func TestManyWidthsShareFewEncodings(t *testing.T) {
	h := New()
	h.SetSourceWidth(1280)
	var vs []*Viewer
	for w := 16; w < 1016; w++ {
		vs = append(vs, h.Subscribe(w))
	}
	wanted := h.Wanted()
	if len(wanted) > len(standardWidths)+3 {
		t.Fatalf("%d widths to encode for 1000 viewers: %v", len(wanted), wanted)
	}
	for _, w := range wanted {
		h.Publish(w, &Picture{JPEG: make([]byte, 100)})
	}
	for _, v := range vs {
		v.Close()
	}
	h.mu.Lock()
	kept := len(h.latest)
	h.mu.Unlock()
	if kept > 1 || len(h.Wanted()) != 0 {
		t.Fatalf("%d pictures kept and %v wanted after every viewer left", kept, h.Wanted())
	}
}

// Concurrent viewers never take a hub past its viewer limit.
func TestViewerCapIsAtomic(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 50 {
		wg.Go(func() {
			if _, ok := h.TrySubscribe(320, 7); ok {
				mu.Lock()
				got++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got != 7 || h.Viewers() != 7 {
		t.Fatalf("%d viewers admitted, %d counted, want 7", got, h.Viewers())
	}
}

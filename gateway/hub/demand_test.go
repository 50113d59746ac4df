package hub

import (
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
)

// Demand follows clients: a hub on demand is wanted while a client wants
// it and for the grace period after; releases count once; a hub not on
// demand is always wanted.
func TestDemand(t *testing.T) {
	for _, c := range []struct {
		name     string
		onDemand bool
		steps    func(h *Hub) bool
		want     bool
	}{
		{"always on, nobody", false, func(*Hub) bool { return true }, true},
		{"on demand, nobody", true, func(*Hub) bool { return true }, false},
		{"on demand, a client", true, func(h *Hub) bool { h.Want(); return true }, true},
		{"within the grace", true, func(h *Hub) bool { h.Want()(); return true }, true},
		{"after the grace", true, func(h *Hub) bool {
			h.Want()()
			for deadline := time.Now().Add(5 * time.Second); h.Wanted(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					return false // still wanted 5 s after a 50 ms grace
				}
			}
			return true
		}, false},
		{"double release counts once", true, func(h *Hub) bool {
			keep := h.Want()
			r := h.Want()
			r()
			r()
			_ = keep
			return h.Wants() == 1
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := New("d")
			h.SetOnDemand(c.onDemand, 50*time.Millisecond)
			if !c.steps(h) {
				t.Fatalf("steps failed: %d wants", h.Wants())
			}
			if got := h.Wanted(); got != c.want {
				t.Errorf("Wanted() = %v, want %v", got, c.want)
			}
		})
	}
}

// AAC is wanted only while a client asks for it, and a keyframe request is
// taken once.
func TestAACDemandAndKeyframeRequests(t *testing.T) {
	h := New("a")
	release := h.WantAudio(media.CodecAAC)
	if !h.AudioWanted(media.CodecAAC) || h.AudioWanted(media.CodecOpus) {
		t.Error("AAC not wanted with a client")
	}
	release()
	release()
	if h.AudioWanted(media.CodecAAC) {
		t.Error("AAC still wanted after the release")
	}
	if h.TakeKeyframeRequest() {
		t.Error("a keyframe request nobody made")
	}
	h.RequestKeyframe()
	h.RequestKeyframe()
	if !h.TakeKeyframeRequest() || h.TakeKeyframeRequest() {
		t.Error("two requests before a take should be taken once")
	}
}

package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/media"
)

const (
	frame25   = media.ClockRate / 25                                           // one 25 fps frame at 90 kHz
	slateStep = int64(slateInterval/time.Millisecond) * media.ClockRate / 1000 // one slate frame at 90 kHz
)

var errGone = errors.New("camera gone")

// nextPTS reads the hub's next unit; a unit slateStep after the previous
// one is a slate frame.
func nextPTS(t *testing.T, ctx context.Context, r *hub.Reader) int64 {
	t.Helper()
	au, err := r.Next(ctx)
	if err != nil {
		t.Fatalf("reading the hub: %v", err)
	}
	return au.PTS
}

// Whatever clock the camera restarts with, the output continues: strictly
// increasing, one frame after the last unit before the reconnect, never a
// jump back or the camera's own jump forward.
func TestReconnectContinuesTheOutputTimeline(t *testing.T) {
	const before = 100 * media.ClockRate // the camera's clock when it went
	cases := []struct {
		name  string
		after int64 // the camera's clock when it is back
	}{
		{"camera clock restarts lower", 0},
		{"camera clock jumps ahead less than the gap limit", before + 4*media.ClockRate},
		{"camera clock jumps ahead by hours", before + 3*3600*media.ClockRate},
		{"camera clock repeats", before},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, h, _ := newScripted(t, Backoff{}, &instantWaiter{},
				run25(before, 20, errGone), run25(c.after, 20, nil))
			r := h.Subscribe(256)
			defer r.Close()
			p.Start()
			ctx, cancel := context.WithTimeout(t.Context(), patience)
			defer cancel()
			last, real := nextPTS(t, ctx, r), 1
			for real < 40 {
				pts := nextPTS(t, ctx, r)
				switch d := pts - last; {
				case d == slateStep: // the slate ran during the reconnect
				case d == frame25:
					real++
				default:
					t.Fatalf("after %d frames: pts %d follows %d (step %d, want %d, or %d for a slate frame)",
						real, pts, last, d, frame25, slateStep)
				}
				last = pts
			}
			if st := p.Stats(); st.Attempts != 2 {
				t.Errorf("attempts %d, want 2", st.Attempts)
			}
		})
	}
}

// During the outage the slate keeps the clock going at its own pace, and
// the camera's video resumes one frame after the last slate frame: the
// output gap is the outage as the slate covered it.
func TestSlateCoversTheOutageAndVideoFollowsIt(t *testing.T) {
	w := &stepWaiter{reqs: make(chan waitReq)}
	p, h, _ := newScripted(t, Backoff{}, w, run25(0, 20, errGone), run25(5*media.ClockRate, 20, nil))
	r := h.Subscribe(256)
	defer r.Close()
	p.Start()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	var last int64 = -1
	for range 20 {
		last = nextPTS(t, ctx, r)
	}
	wait := w.next(t, p)
	for i := range 2 { // two slate frames, 500 ms each at the slate's pace
		pts := nextPTS(t, ctx, r)
		if pts != last+slateStep {
			t.Fatalf("slate frame %d at %d after %d, want %d later", i+1, pts, last, slateStep)
		}
		last = pts
	}
	wait.resume <- true
	for { // more slate frames may come before the camera's first frame
		pts := nextPTS(t, ctx, r)
		if pts == last+frame25 {
			break
		}
		if pts != last+slateStep {
			t.Fatalf("the first frame after the outage is at %d after %d, want %d (a frame) later", pts, last, frame25)
		}
		last = pts
	}
}

package pipeline

import "github.com/visiongate/visiongate/media"

// maxForwardJump is the largest gap in input timestamps kept as a real
// pause; anything larger (a wrap, a camera clock reset, a reconnect) is
// closed up to one frame.
const maxForwardJump = 5 * media.ClockRate

// Timeline maps input timestamps onto the output clock (90 kHz): output
// starts near zero, strictly increases, keeps real gaps, and survives
// timestamp wraps, jumps backwards and reconnects.
type Timeline struct {
	num, den  int64 // input time base
	frameDur  int64 // one frame at the output clock
	offset    int64
	lastOut   int64
	started   bool
	rebaseNow bool
}

// NewTimeline creates a timeline whose first output timestamp is 0.
func NewTimeline() *Timeline { return &Timeline{frameDur: media.ClockRate / 30} }

// ContinueAfter makes the next output timestamp follow ts, so a restarted
// pipeline publishing into the same hub keeps readers' clocks monotonic.
func (t *Timeline) ContinueAfter(ts int64) {
	t.lastOut, t.started, t.rebaseNow = ts, true, true
}

// Advance moves the clock on by d without an input timestamp (slate
// frames while the source is down) and returns the new time.
func (t *Timeline) Advance(d int64) int64 {
	return t.advance(t.lastOut + max(d, 1))
}

// SetInput declares the time base (num/den seconds) and frame rate of a new
// input; the next timestamp continues one frame after the last output.
func (t *Timeline) SetInput(num, den int, fps float64) {
	t.num, t.den = int64(num), int64(den)
	if fps > 0 && fps <= 1000 {
		t.frameDur = int64(float64(media.ClockRate) / fps)
	}
	t.rebaseNow = t.started
}

// Map converts an input timestamp (ok false when the input had none) to
// the output clock.
func (t *Timeline) Map(ts int64, ok bool) int64 {
	if !ok || t.den == 0 {
		return t.advance(t.lastOut + t.frameDur)
	}
	in := ts * t.num * media.ClockRate / t.den
	if !t.started {
		t.offset, t.started = -in, true
		return t.advance(0)
	}
	out := in + t.offset
	if t.rebaseNow || out <= t.lastOut || out > t.lastOut+maxForwardJump {
		t.offset = t.lastOut + t.frameDur - in
		t.rebaseNow = false
		out = t.lastOut + t.frameDur
	}
	return t.advance(out)
}

// Follow maps a timestamp of another track of the input (time base
// num/den) with the video's current offset, so both share one clock. ok is
// false until the video of the current input has been mapped.
func (t *Timeline) Follow(ts int64, num, den int) (out int64, ok bool) {
	if !t.started || t.rebaseNow || t.den == 0 || den <= 0 {
		return 0, false
	}
	return ts*int64(num)*media.ClockRate/int64(den) + t.offset, true
}

// Rescale converts a duration in the input time base to the output clock.
func (t *Timeline) Rescale(d int64) int64 {
	if t.den == 0 {
		return 0
	}
	return d * t.num * media.ClockRate / t.den
}

func (t *Timeline) advance(out int64) int64 {
	t.lastOut = out
	t.started = true
	return out
}

// FrameDuration is one frame on the output clock.
func (t *Timeline) FrameDuration() int64 { return t.frameDur }

package pipeline

import (
	"time"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/internal/recovery"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/transcode"
	"github.com/visiongate/visiongate/vision"
)

// slateInterval is the slate's frame interval: enough to keep players and
// HLS playlists alive, cheap to encode.
const slateInterval = 500 * time.Millisecond

// slate publishes a "reconnecting" card through the source's encoder while
// the source is down, with timestamps that continue the video's, so
// readers stay connected and see why the picture stopped.
type slate struct {
	stop chan struct{}
	done chan struct{}
}

// startSlate runs the slate until the next real frame. Before the first
// frame, and for a relay, there is no output size to draw it at.
func (o *output) startSlate() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.encW == 0 || o.slate != nil {
		return
	}
	s := &slate{stop: make(chan struct{}), done: make(chan struct{})}
	o.slate = s
	go o.runSlate(s)
}

// stopSlateLocked ends the slate; the caller holds o.mu.
func (o *output) stopSlateLocked() {
	if o.slate != nil {
		close(o.slate.stop)
		o.slate = nil
	}
}

// waitSlate stops the slate and waits for its goroutine.
func (o *output) waitSlate() {
	o.mu.Lock()
	s := o.slate
	o.stopSlateLocked()
	o.mu.Unlock()
	if s != nil {
		<-s.done
	}
}

func (o *output) runSlate(s *slate) {
	defer close(s.done)
	var err error
	defer recovery.As(&err, o.log, "slate")
	frame := astiav.AllocFrame()
	defer frame.Free()
	t := time.NewTicker(slateInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if !o.slateTick(s, frame, now) {
				return
			}
		}
	}
}

// slateTick draws and encodes one slate frame; false once stopped.
func (o *output) slateTick(s *slate, frame *astiav.Frame, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-s.stop:
		return false
	default:
	}
	if err := o.followDemand(astiav.PixelFormatYuv420P); err != nil {
		o.log.Warn("slate", "err", err)
		return true
	}
	if o.enc == nil {
		return true // nobody watches: the time still passes on the timeline
	}
	if err := o.drawSlate(frame, now); err != nil {
		o.log.Warn("slate", "err", err)
		return true
	}
	pts := o.tl.Advance(slateInterval.Milliseconds() * media.ClockRate / 1000)
	frame.SetPts(pts)
	frame.SetPictureType(o.slatePictureType(now))
	o.tap.offer(frame, pts)
	if err := o.enc.SendFrame(frame); err != nil {
		o.log.Warn("slate", "err", err)
		return true
	}
	_ = o.drainEncoder(false)
	o.slateSound(pts)
	return true
}

// slatePictureType makes a slate frame an IDR when a new reader asks for
// one, and once a keyframe interval: the encoder counts its GOP in frames
// of the video's rate, which at the slate's rate would space keyframes
// fifteen times further apart.
func (o *output) slatePictureType(now time.Time) astiav.PictureType {
	if t := o.pictureType(); t == astiav.PictureTypeI {
		return t
	}
	if now.Sub(o.lastForcedIDR) < o.cfg.Keyint.D {
		return astiav.PictureTypeNone
	}
	o.lastForcedIDR = now
	return astiav.PictureTypeI
}

func (o *output) drawSlate(frame *astiav.Frame, now time.Time) error {
	if frame.Width() != o.encW || frame.Height() != o.encH {
		frame.Unref()
		frame.SetWidth(o.encW)
		frame.SetHeight(o.encH)
		frame.SetPixelFormat(o.enc.PixelFormat())
		if err := frame.AllocBuffer(0); err != nil {
			return err
		}
	}
	if err := transcode.MakeWritable(frame); err != nil {
		return err
	}
	v, err := transcode.FrameView(frame, 0)
	if err != nil {
		return err
	}
	vision.DrawSlate(&v, "source unavailable", "reconnecting...", now.Format("15:04:05"))
	return nil
}

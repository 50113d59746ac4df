package transcode

import (
	"context"
	"time"

	"github.com/asticode/go-astiav"
)

// maxPaceWait caps one pacing sleep: a larger timestamp jump resets the
// pacing clock instead of stalling the source.
const maxPaceWait = time.Second

// pacer makes a file or lavfi input play at real time, like ffmpeg -re.
type pacer struct {
	started   bool
	wallStart time.Time
	ptsStart  time.Duration
}

func (p *pacer) wait(ctx context.Context, pkt *astiav.Packet, tb astiav.Rational) error {
	ts := pkt.Dts()
	if ts == astiav.NoPtsValue {
		ts = pkt.Pts()
	}
	if ts == astiav.NoPtsValue {
		return nil
	}
	at := time.Duration(astiav.RescaleQ(ts, tb, astiav.NewRational(1, int(time.Second))))
	if !p.started {
		p.started, p.wallStart, p.ptsStart = true, time.Now(), at
		return nil
	}
	d := time.Until(p.wallStart.Add(at - p.ptsStart))
	if d > maxPaceWait || d < -maxPaceWait {
		p.wallStart, p.ptsStart = time.Now(), at
		return nil
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ErrInterrupted
	case <-t.C:
		return nil
	}
}

// loopState keeps timestamps continuous when a finite input restarts.
type loopState struct {
	frameDur int64 // one frame in stream time base
	first    int64
	last     int64
	offset   int64
	seen     bool
}

func (l *loopState) adjust(pkt *astiav.Packet) {
	pts := pkt.Pts()
	if pts == astiav.NoPtsValue {
		pts = pkt.Dts()
	}
	if pts != astiav.NoPtsValue {
		if !l.seen || pts < l.first {
			l.first, l.seen = pts, true
		}
		if pts > l.last {
			l.last = pts
		}
	}
	if l.offset == 0 {
		return
	}
	if pkt.Pts() != astiav.NoPtsValue {
		pkt.SetPts(pkt.Pts() + l.offset)
	}
	if pkt.Dts() != astiav.NoPtsValue {
		pkt.SetDts(pkt.Dts() + l.offset)
	}
}

// shift moves another track's packet by the loop offset, which is kept
// in the video's time base vtb.
func (l *loopState) shift(pkt *astiav.Packet, vtb, tb astiav.Rational) {
	if l.offset == 0 {
		return
	}
	off := astiav.RescaleQ(l.offset, vtb, tb)
	if pkt.Pts() != astiav.NoPtsValue {
		pkt.SetPts(pkt.Pts() + off)
	}
	if pkt.Dts() != astiav.NoPtsValue {
		pkt.SetDts(pkt.Dts() + off)
	}
}

// rewind seeks to the start and shifts later timestamps past the end.
func (in *Input) rewind() error {
	if err := in.fc.SeekFrame(in.stream.Index(), in.loop.first, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		return err
	}
	l := &in.loop
	l.offset += l.last - l.first + l.frameDur
	l.last = l.first
	return nil
}

// frameDuration is one frame at fps, in time base tb (at least 1).
func frameDuration(fps, tb astiav.Rational) int64 {
	if fps.Num() <= 0 || fps.Den() <= 0 {
		return 1
	}
	d := astiav.RescaleQ(1, astiav.NewRational(fps.Den(), fps.Num()), tb)
	if d < 1 {
		return 1
	}
	return d
}

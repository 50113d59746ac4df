package rtspin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/internal/recovery"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/media/rtpin"
	"github.com/visiongate/visiongate/transcode"
)

// receive is a track's RTP callback. gortsplib calls it from one
// goroutine at a time per track, so the depacketizer needs no lock; it
// never blocks gortsplib's reading.
func (c *Client) receive(t *rtpin.Track) func(*rtp.Packet) {
	var errs uint64
	codec := t.Info.Codec
	return func(pkt *rtp.Packet) {
		pts, ok := c.gc.PacketPTS(t.Media, pkt)
		if !ok {
			return // before the track's first random access point
		}
		err := recovery.Call(c.log, "rtsp client", func() error {
			pkts, err := t.Unpack(pkt, pts)
			for _, p := range pkts {
				c.offer(p)
			}
			return err
		})
		if err != nil {
			errs++
			if errs&(errs-1) == 0 { // log on powers of two: no flood
				c.log.Warn("rtsp: dropping camera packets", "codec", codec, "err", err, "errors", errs)
			}
		}
	}
}

// offer queues a packet without waiting. When the reader has fallen
// behind it drops the packet, and video until the next keyframe, which
// a decoder can start from.
func (c *Client) offer(p media.Packet) {
	if !p.Audio && c.waitKey.Load() {
		if !p.Key {
			c.dropped.Add(1)
			return
		}
		c.waitKey.Store(false)
	}
	select {
	case c.queue <- p:
	default:
		c.dropped.Add(1)
		c.waitKey.Store(true)
	}
}

func (c *Client) packetsLost(n uint64) {
	if total := c.lost.Add(n); total == n {
		c.log.Debug("rtsp: camera packets lost", "lost", n)
	}
}

func (c *Client) decodeError(err error) {
	if n := c.decodeErrs.Add(1); n&(n-1) == 0 {
		c.log.Warn("rtsp: undecodable camera packets", "err", err, "errors", n)
	}
}

// learnPicture finds the picture size and the frame rate: from the SDP's
// SPS, else from the first keyframe's (which the reader then gets first);
// without timing in the SPS, from the first two frames.
func (c *Client) learnPicture() error {
	if sps := rtpin.FindSPS(c.info.Codec, c.info.Config); sps != nil {
		pic, err := rtpin.ParseSPS(c.info.Codec, sps)
		if err != nil {
			return err // parsed once already
		}
		c.fps = pic.FPS
	} else {
		key, err := c.nextVideo()
		if err != nil {
			return err
		}
		if err := c.pictureFrom(key); err != nil {
			return err
		}
	}
	if c.fps > 0 {
		return nil
	}
	return c.measureFPS()
}

// measureFPS times the first two frames, as libav's probe would.
func (c *Client) measureFPS() error {
	for {
		if v := c.pendingVideo(); len(v) >= 2 {
			c.fps = frameRate(v[0], v[1], c.info.ClockRate)
			return nil
		}
		if _, err := c.nextVideo(); err != nil {
			return err
		}
	}
}

// frameRate is the rate two consecutive frames imply; 0 when it is not
// a plausible one.
func frameRate(a, b media.Packet, clock int) float64 {
	d := b.DTS - a.DTS
	if d <= 0 {
		return 0
	}
	fps := float64(clock) / float64(d)
	if fps < 1 || fps > 240 {
		return 0
	}
	return fps
}

func (c *Client) pendingVideo() []media.Packet {
	var v []media.Packet
	for _, p := range c.pending {
		if !p.Audio {
			v = append(v, p)
		}
	}
	return v
}

// nextVideo waits for the next video packet and keeps it, and the audio
// after the first picture, for the reader.
func (c *Client) nextVideo() (media.Packet, error) {
	for {
		select {
		case p := <-c.queue:
			if !p.Audio || len(c.pending) > 0 { // audio before the first picture is of no use
				c.pending = append(c.pending, p)
			}
			if !p.Audio {
				return p, nil
			}
		case <-c.ended:
			return media.Packet{}, c.endError()
		}
	}
}

// pictureFrom takes the size and parameter sets of the video track from
// its first keyframe, which carries them (rtpin).
func (c *Client) pictureFrom(key media.Packet) error {
	sps := rtpin.FindSPS(c.info.Codec, key.Data)
	if sps == nil {
		return fmt.Errorf("%w: no %s SPS in the SDP or before the first keyframe", ErrUnsupported, c.info.Codec)
	}
	pic, err := rtpin.ParseSPS(c.info.Codec, sps)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if err := checkSize(pic.Width, pic.Height); err != nil {
		return err
	}
	c.info.Width, c.info.Height, c.fps = pic.Width, pic.Height, pic.FPS
	c.info.Config = rtpin.ParamSets(c.info.Codec, key.Data)
	return nil
}

// ReadPacket returns the next packet; transcode.ErrTimeout when none came
// for ReadTimeout, ctx's error when it ends, and once the session has
// ended, the queued packets and then why it ended.
func (c *Client) ReadPacket(ctx context.Context) (media.Packet, error) {
	if len(c.pending) > 0 {
		p := c.pending[0]
		c.pending = c.pending[1:]
		c.started = true
		return p, nil
	}
	select {
	case p := <-c.queue:
		c.started = true
		return p, nil
	default:
	}
	wait := c.readWait()
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case p := <-c.queue:
		c.started = true
		return p, nil
	case <-c.ended:
		return c.drain()
	case <-ctx.Done():
		return media.Packet{}, ctx.Err()
	case <-timeout:
		return media.Packet{}, fmt.Errorf("%w: no packet from the camera for %s", transcode.ErrTimeout, wait)
	}
}

// readWait is the read timeout; before the first packet with auto
// transport it also covers gortsplib's wait for UDP before TCP.
func (c *Client) readWait() time.Duration {
	d := c.opts.ReadTimeout
	if d > 0 && !c.started && c.auto {
		d += udpGrace
	}
	return d
}

func (c *Client) drain() (media.Packet, error) {
	select {
	case p := <-c.queue:
		return p, nil
	default:
		return media.Packet{}, c.endError()
	}
}

// endError says why the session ended, in the pipeline's terms: a
// silent camera is transcode.ErrTimeout; a closed connection wraps
// io.EOF, an end of stream.
func (c *Client) endError() error {
	var tcp liberrors.ErrClientTCPTimeout
	var udp liberrors.ErrClientUDPTimeout
	if errors.As(c.endErr, &tcp) || errors.As(c.endErr, &udp) {
		return fmt.Errorf("%w: %v", transcode.ErrTimeout, c.endErr)
	}
	return fmt.Errorf("rtsp: %w", c.endErr)
}

// stepError names the request that failed; a camera that does not answer
// is transcode.ErrTimeout.
func stepError(step string, err error) error {
	var timedOut liberrors.ErrClientRequestTimedOut
	if errors.As(err, &timedOut) {
		return fmt.Errorf("%w: rtsp %s: %v", transcode.ErrTimeout, step, err)
	}
	return fmt.Errorf("rtsp %s: %w", step, err)
}

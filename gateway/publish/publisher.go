// Package publish connects pushed streams (RTSP RECORD, RTMP, SRT, WHIP)
// to the publish sources that wait for them. A protocol server announces a
// publisher to the Broker and writes its packets; the source's pipeline
// awaits a publisher and reads them. Neither side blocks the other: a
// source that falls behind drops packets, never the publisher's socket.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/visiongate/visiongate/media"
)

// Protocol names how a publisher connects.
type Protocol string

// Protocols a publisher may use.
const (
	RTSP   Protocol = "rtsp"
	RTMP   Protocol = "rtmp"
	SRT    Protocol = "srt"
	WebRTC Protocol = "webrtc"
)

// Containers a byte-stream publisher may send.
const ContainerMPEGTS = "mpegts"

// Typed errors: protocol servers map them to their own refusals.
var (
	ErrUnauthorized  = errors.New("publish: bad or missing credentials")
	ErrNoSource      = errors.New("publish: no publish source of that name")
	ErrBusy          = errors.New("publish: another publisher is connected to this source")
	ErrTooMany       = errors.New("publish: too many connections")
	ErrTakenOver     = errors.New("publish: another publisher took over")
	ErrSourceGone    = errors.New("publish: the source was removed")
	ErrBadStream     = errors.New("publish: unusable stream")
	ErrClosed        = errors.New("publish: publisher closed")
	ErrGatewayClosed = errors.New("publish: gateway shutting down")
)

// queueLen bounds the packets between a publisher and its source: about
// 30 s of a 30 fps camera with sound, or 1.3 MB of 1316-byte SRT chunks.
const queueLen = 1024

// Announce is what a protocol server knows when a publisher starts.
type Announce struct {
	Name     string
	Protocol Protocol
	Remote   string
	User     string
	Pass     string
	// Packet mode (RTSP, RTMP, WebRTC): the video track, and the audio
	// track or nil.
	Video *media.Track
	Audio *media.Track
	// Byte mode (SRT): the container of the chunks, Video and Audio nil.
	Container string
}

func (a Announce) check() error {
	switch {
	case a.Container == "" && a.Video == nil:
		return fmt.Errorf("%w: no video track", ErrBadStream)
	case a.Container != "" && a.Container != ContainerMPEGTS:
		return fmt.Errorf("%w: container %q", ErrBadStream, a.Container)
	case a.Video != nil && a.Video.ClockRate <= 0:
		return fmt.Errorf("%w: video clock rate %d", ErrBadStream, a.Video.ClockRate)
	case a.Audio != nil && a.Audio.ClockRate <= 0:
		return fmt.Errorf("%w: audio clock rate %d", ErrBadStream, a.Audio.ClockRate)
	}
	if v := a.Video; v != nil && (v.Width > maxSide || v.Height > maxSide || v.Width*v.Height > maxPixels) {
		return fmt.Errorf("%w: %dx%d is larger than %dx%d", ErrBadStream, v.Width, v.Height, maxSide, maxSide)
	}
	return nil
}

// The largest picture a publisher may announce (8K).
const (
	maxSide   = 8192
	maxPixels = 8192 * 4320
)

// Info describes a connected publisher for the status.
type Info struct {
	Protocol  Protocol
	Remote    string
	Since     time.Time
	Video     *media.Track
	Audio     *media.Track
	Container string
	dropped   *atomic.Int64
}

// Dropped counts the packets the source fell too far behind to take.
func (i Info) Dropped() int64 {
	if i.dropped == nil {
		return 0
	}
	return i.dropped.Load()
}

// Publisher is one connected publisher. The protocol server writes
// (WritePacket or Write) and ends it with Close; the source reads
// (ReadPacket or Read) and lets go of it with Release.
type Publisher struct {
	info    Info
	name    string
	broker  *Broker
	queue   chan media.Packet
	ended   chan struct{} // closed once, by end
	endOnce sync.Once
	err     error // why it ended, set before ended closes
	// waitKey drops video until the next keyframe after an overflow.
	waitKey atomic.Bool
	dropped *atomic.Int64
	// rest is what Read has not returned of the current chunk.
	rest []byte
}

// Info describes the publisher.
func (p *Publisher) Info() Info { return p.info }

// WritePacket hands one packet to the source without waiting. When the
// source has fallen behind it drops the packet, and video until the next
// keyframe. It fails once the publisher has ended.
func (p *Publisher) WritePacket(pk media.Packet) error {
	select {
	case <-p.ended:
		return p.err
	default:
	}
	if !pk.Audio && p.waitKey.Load() {
		if !pk.Key {
			p.dropped.Add(1)
			return nil
		}
		p.waitKey.Store(false)
	}
	select {
	case p.queue <- pk:
	default:
		p.dropped.Add(1)
		p.waitKey.Store(p.info.Container == "")
	}
	return nil
}

// Write hands a chunk of a byte-stream publisher's container to the
// source; it copies b.
func (p *Publisher) Write(b []byte) (int, error) {
	if err := p.WritePacket(media.Packet{Data: append([]byte(nil), b...)}); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Done is closed once the publisher has ended, for whatever reason: the
// protocol server then closes the connection.
func (p *Publisher) Done() <-chan struct{} { return p.ended }

// Err tells why the publisher ended (nil while it runs).
func (p *Publisher) Err() error {
	select {
	case <-p.ended:
		return p.err
	default:
		return nil
	}
}

// Close ends the publisher from the protocol side: its connection is gone
// (err says why; nil for a normal end).
func (p *Publisher) Close(err error) {
	if err == nil {
		err = ErrClosed
	}
	p.end(err)
}

// ReadPacket returns the next packet; io.EOF once the publisher has ended
// and its queue is drained.
func (p *Publisher) ReadPacket(ctx context.Context) (media.Packet, error) {
	select {
	case pk := <-p.queue:
		return pk, nil
	default:
	}
	select {
	case pk := <-p.queue:
		return pk, nil
	case <-p.ended:
		select {
		case pk := <-p.queue:
			return pk, nil
		default:
			return media.Packet{}, io.EOF
		}
	case <-ctx.Done():
		return media.Packet{}, ctx.Err()
	}
}

// Read reads the container bytes of a byte-stream publisher. It waits
// for data, and returns io.EOF once the publisher has ended.
func (p *Publisher) Read(b []byte) (int, error) {
	return p.ReadContext(context.Background(), b)
}

// ReadContext is Read that ctx can interrupt.
func (p *Publisher) ReadContext(ctx context.Context, b []byte) (int, error) {
	for len(p.rest) == 0 {
		pk, err := p.ReadPacket(ctx)
		if err != nil {
			return 0, err
		}
		p.rest = pk.Data
	}
	n := copy(b, p.rest)
	p.rest = p.rest[n:]
	return n, nil
}

// Release lets go of the publisher from the source side: the source
// stopped reading, so the publisher is disconnected.
func (p *Publisher) Release() { p.end(ErrSourceGone) }

func (p *Publisher) end(err error) {
	p.endOnce.Do(func() {
		p.err = err
		close(p.ended)
		p.broker.left(p)
	})
}

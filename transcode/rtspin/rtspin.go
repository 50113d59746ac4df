// Package rtspin pulls an rtsp:// or rtsps:// camera with gortsplib's
// client and hands its H.264/H.265 access units (and audio frames) on as
// media packets. gortsplib completes an access unit on the RTP marker
// bit, where libav's parser waits for the next unit to start: a frame of
// latency less on every camera.
package rtspin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/visiongate/visiongate/internal/recovery"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/media/rtpin"
	"github.com/visiongate/visiongate/transcode"
)

// Options say how to pull one camera.
type Options struct {
	// URL is rtsp:// or rtsps://, with the credentials, if any: gortsplib
	// answers Basic or Digest, whichever the camera asks for.
	URL string
	// Transport is "auto" (UDP, then TCP when no UDP packet comes), "tcp"
	// or "udp". rtsps always runs over TCP, as with libav.
	Transport string
	// ConnectTimeout bounds DESCRIBE, SETUP and PLAY together (and the
	// first keyframe when only it tells the picture size); ReadTimeout
	// bounds the wait for each packet afterwards (0: no bound).
	ConnectTimeout, ReadTimeout time.Duration
	// TLS applies to rtsps.
	TLS TLSOptions
	// Egress, when set, resolves a host and checks it before anything
	// connects to it; only the addresses it returns are used.
	Egress func(ctx context.Context, host string) ([]netip.Addr, error)
	// Audio takes the first audio track too.
	Audio bool
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// TLSOptions verify an rtsps camera's certificate.
type TLSOptions struct {
	// SkipVerify accepts any certificate (tls_verify: false).
	SkipVerify bool
	// CAFile, when set, replaces the system's CAs.
	CAFile string
}

// Typed errors of Open; the transcode ones (ErrTimeout, ErrInterrupted,
// ErrTooLarge, NetError kinds) are used where they apply.
var (
	// ErrURL: not an rtsp:// or rtsps:// URL. The URL is not repeated: it
	// may hold a password.
	ErrURL = errors.New("rtsp: not a valid rtsp:// or rtsps:// URL")
	// ErrUnsupported: the stream has no H.264/H.265 video this client can
	// take (another codec, or parameters it cannot read); libav may.
	ErrUnsupported = errors.New("rtsp: stream not taken by the RTSP client")
)

const (
	// queueLen bounds the packets between gortsplib and the reader.
	queueLen = 512
	// closeTimeout bounds each write, TEARDOWN included: a dead camera
	// never makes Close wait longer.
	closeTimeout = time.Second
	// udpGrace is how long auto waits for UDP before switching to TCP.
	udpGrace        = 2 * time.Second
	defaultOpenWait = 10 * time.Second
)

// Client is a playing camera. One goroutine calls ReadPacket; Close may
// come from any goroutine.
type Client struct {
	opts  Options
	log   *slog.Logger
	gc    *gortsplib.Client
	video *rtpin.Track
	audio *rtpin.Track // nil without one (or not asked)
	info  media.Track  // the video track, its size learnt at Open
	fps   float64
	queue chan media.Packet
	// waitKey drops video until the next keyframe after an overflow.
	waitKey       atomic.Bool
	dropped, lost atomic.Uint64
	decodeErrs    atomic.Uint64
	ended         chan struct{} // closed once gortsplib's client stopped
	endErr        error         // why; written before ended closes
	abortErr      error         // why Open gave up; see guardOpen
	pending       []media.Packet
	started       bool // the reader got a packet
	auto          bool // UDP first, then TCP
	wg            sync.WaitGroup
	closeOnce     sync.Once
	dial          *dialer
}

// Open connects, plays and returns once the video track is known.
func Open(ctx context.Context, o Options) (*Client, error) {
	u, err := base.ParseURL(o.URL)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
		return nil, ErrURL
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultOpenWait
	}
	c := &Client{opts: o, log: o.Log, queue: make(chan media.Packet, queueLen), ended: make(chan struct{})}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.dial, err = newDialer(o); err != nil {
		return nil, err
	}
	c.auto = protocol(o.Transport, u.Scheme) == nil
	c.gc = c.newGortsplib(u)
	if err := c.gc.Start(); err != nil {
		return nil, fmt.Errorf("rtsp: %w", err)
	}
	c.wg.Add(1)
	go c.waitEnd()
	if err := c.openGuarded(ctx, u); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) newGortsplib(u *base.URL) *gortsplib.Client {
	o := c.opts
	gc := &gortsplib.Client{
		Scheme: u.Scheme, Host: u.Host,
		// Bounds each request; the read timeout proper is ReadPacket's.
		ReadTimeout:           max(o.ConnectTimeout, o.ReadTimeout),
		WriteTimeout:          closeTimeout,
		Protocol:              protocol(o.Transport, u.Scheme),
		InitialUDPReadTimeout: udpGrace,
		DialContext:           c.dial.dial,
		ListenPacket:          c.dial.listenPacket,
		OnTransportSwitch: func(err error) {
			c.log.Info("rtsp: switching to TCP", "reason", err)
		},
		OnPacketsLost: c.packetsLost,
		OnDecodeError: c.decodeError,
	}
	// Always: a redirect may lead an rtsp URL to rtsps.
	gc.DialTLSContext = c.dial.dialTLS
	return gc
}

// protocol is gortsplib's transport; nil lets it try UDP, then TCP.
func protocol(transport, scheme string) *gortsplib.Protocol {
	var p gortsplib.Protocol
	switch {
	case scheme == "rtsps", transport == "tcp":
		p = gortsplib.ProtocolTCP
	case transport == "udp":
		p = gortsplib.ProtocolUDP
	default:
		return nil
	}
	return &p
}

// waitEnd records why gortsplib's client stopped.
func (c *Client) waitEnd() {
	defer c.wg.Done()
	c.endErr = c.gc.Wait()
	close(c.ended)
}

// openGuarded runs the opening steps under the connect timeout and ctx:
// when either ends first, the guard closes gortsplib's client, which ends
// the step in progress, and its reason is Open's error.
func (c *Client) openGuarded(ctx context.Context, u *base.URL) error {
	opened, guarded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(guarded)
		c.guardOpen(ctx, opened)
	}()
	err := c.open(u)
	close(opened)
	<-guarded
	if c.abortErr != nil {
		return c.abortErr
	}
	return err
}

func (c *Client) guardOpen(ctx context.Context, opened <-chan struct{}) {
	t := time.NewTimer(c.opts.ConnectTimeout)
	defer t.Stop()
	select {
	case <-opened:
		return
	case <-ctx.Done():
		c.abortErr = fmt.Errorf("%w: %w", transcode.ErrInterrupted, ctx.Err())
	case <-t.C:
		c.abortErr = fmt.Errorf("%w: the camera did not start playing within %s", transcode.ErrTimeout, c.opts.ConnectTimeout)
	}
	c.gc.Close()
}

// open describes, sets up and plays the camera.
func (c *Client) open(u *base.URL) error {
	desc, _, err := c.gc.Describe(u)
	if err != nil {
		return stepError("DESCRIBE", err)
	}
	if err := c.selectTracks(desc); err != nil {
		return err
	}
	for _, t := range c.tracks() {
		if _, err := c.gc.Setup(desc.BaseURL, t.Media, 0, 0); err != nil {
			return stepError("SETUP", err)
		}
		c.gc.OnPacketRTP(t.Media, t.Format, c.receive(t))
	}
	if _, err := c.gc.Play(nil); err != nil {
		return stepError("PLAY", err)
	}
	return c.learnPicture()
}

// selectTracks takes the first H.264/H.265 video (and audio) track; a
// hostile parameter set costs this camera only.
func (c *Client) selectTracks(desc *description.Session) error {
	err := recovery.Call(c.log, "rtsp describe", func() (err error) {
		c.video, c.audio, err = rtpin.Select(desc)
		return err
	})
	var pe *rtpin.ParamError
	if errors.Is(err, rtpin.ErrNoVideo) || errors.As(err, &pe) {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if err != nil {
		return err
	}
	if !c.opts.Audio {
		c.audio = nil
	}
	c.info = c.video.Info
	return checkSize(c.info.Width, c.info.Height)
}

func checkSize(w, h int) error {
	if w > transcode.MaxDimension || h > transcode.MaxDimension {
		return &transcode.SizeError{Width: w, Height: h}
	}
	return nil
}

func (c *Client) tracks() []*rtpin.Track {
	if c.audio == nil {
		return []*rtpin.Track{c.video}
	}
	return []*rtpin.Track{c.video, c.audio}
}

// Video describes the video track.
func (c *Client) Video() media.Track { return c.info }

// Audio describes the audio track; nil without one.
func (c *Client) Audio() *media.Track {
	if c.audio == nil {
		return nil
	}
	a := c.audio.Info
	return &a
}

// FPS is the frame rate the SPS announces; 0 when it does not.
func (c *Client) FPS() float64 { return c.fps }

// Dropped counts packets dropped because the reader fell behind.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Close tears the session down and waits for every goroutine; writes are
// bounded, so a dead camera cannot hold it. Safe to call more than once.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.gc.Close()
		c.wg.Wait()
		c.log.Debug("rtsp: camera closed", "dropped_packets", c.dropped.Load(), "lost_packets", c.lost.Load())
	})
}

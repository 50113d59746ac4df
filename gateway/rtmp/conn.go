package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

// setupSlack is what the set-up may take beyond ReadTimeout: gortmplib
// reads two seconds of stream before it names the tracks.
const setupSlack = 5 * time.Second

// handle serves one connection until it ends.
func (s *Server) handle(nc net.Conn) {
	log := s.logger().With("remote", nc.RemoteAddr().String())
	release, err := s.Broker.Admit(publish.RTMP)
	if err != nil {
		log.Warn("rtmp: connection refused", "err", logSafe(err))
		return
	}
	defer release()
	c := &conn{nc: nc, broker: s.Broker, log: log, timeout: s.readTimeout(), closing: s.closing}
	c.logEnd(c.serve())
}

// conn is one publisher's connection, used by its goroutine alone (the
// Done watch only closes nc).
type conn struct {
	nc      net.Conn
	broker  *publish.Broker
	closing <-chan struct{} // the server's: closed by Close
	log     *slog.Logger
	timeout time.Duration
	// until ends the set-up (handshake to the first packet); zero after.
	until time.Time
	sc    *gortmplib.ServerConn
	name  string
	user  string
	pass  string
	// mp3 is the first MPEG-1 audio frame, kept while probing.
	mp3   []byte
	pub   *publish.Publisher
	video *videoConv
	audio audioConv
	// werr is the first failure inside a data callback, which cannot
	// return it.
	werr error
}

// serve runs the connection. gortmplib panics on some malformed streams:
// the panic ends this connection only.
func (c *conn) serve() (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("rtmp: recovered from a panic", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrMalformed, r)
		}
		if err != nil && c.serverClosed() {
			err = ErrServerClosed // rather than the closed socket's error
		}
		if c.pub != nil {
			c.pub.Close(err)
		}
	}()
	c.until = time.Now().Add(c.timeout + setupSlack)
	if err := c.accept(); err != nil {
		return err
	}
	r, err := c.probe()
	if err != nil {
		return err
	}
	if err := c.announce(r); err != nil {
		c.refuse(err)
		return err
	}
	return c.stream(r)
}

func (c *conn) serverClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// accept runs the handshake and waits for the publish command, whose
// source and credentials the broker checks.
func (c *conn) accept() error {
	c.sc = &gortmplib.ServerConn{RW: c.nc}
	if err := c.deadline(); err != nil {
		return err
	}
	if err := c.sc.Initialize(); err != nil {
		return fmt.Errorf("rtmp handshake or connect: %w", err)
	}
	if err := c.deadline(); err != nil {
		return err
	}
	if err := c.sc.AcceptConn(); err != nil {
		return fmt.Errorf("rtmp publish command: %w", err)
	}
	if !c.sc.Publish {
		c.refuse(ErrPlayRefused)
		return ErrPlayRefused
	}
	var err error
	c.name, c.user, c.pass, err = parseStreamURL(c.sc.URL)
	if err == nil {
		err = c.broker.Check(c.name, c.user, c.pass)
	}
	if err != nil {
		c.refuse(err)
	}
	return err
}

// probe accepts the publish and lets gortmplib find the tracks.
func (c *conn) probe() (*gortmplib.Reader, error) {
	if err := c.deadline(); err != nil {
		return nil, err
	}
	if err := c.sc.AcceptAction(); err != nil {
		return nil, err
	}
	r := &gortmplib.Reader{Conn: msgConn{c}}
	if err := r.Initialize(); err != nil {
		return nil, fmt.Errorf("rtmp tracks: %w", err)
	}
	return r, nil
}

// announce starts the publisher and routes the tracks' data to it.
func (c *conn) announce(r *gortmplib.Reader) error {
	sel, err := selectTracks(r.Tracks(), c.mp3)
	if err != nil {
		return err
	}
	c.pub, err = c.broker.Publish(publish.Announce{Name: c.name, Protocol: publish.RTMP,
		Remote: c.nc.RemoteAddr().String(), User: c.user, Pass: c.pass, Video: sel.vt, Audio: sel.at})
	if err != nil {
		return err
	}
	c.video = newVideoConv(sel.video.Codec)
	if sel.at != nil {
		c.audio = audioConv{rate: sel.at.ClockRate}
	}
	c.route(r, sel)
	c.until, c.mp3 = time.Time{}, nil
	c.logStart(sel)
	return nil
}

// route sets a callback on every track: gortmplib calls a missing one.
func (c *conn) route(r *gortmplib.Reader, sel selection) {
	noVideo, noAudio := func(time.Duration, time.Duration, [][]byte) {}, func(time.Duration, []byte) {}
	for _, t := range r.Tracks() {
		video, audio := noVideo, noAudio
		if t == sel.video {
			video = c.onVideo
		}
		if t == sel.audio {
			audio = c.onAudio
		}
		switch t.Codec.(type) {
		case *codecs.H264:
			r.OnDataH264(t, video)
		case *codecs.H265:
			r.OnDataH265(t, video)
		case *codecs.AV1:
			r.OnDataAV1(t, func(time.Duration, [][]byte) {})
		case *codecs.VP9:
			r.OnDataVP9(t, noAudio)
		case *codecs.MPEG4Audio:
			r.OnDataMPEG4Audio(t, audio)
		case *codecs.Opus:
			r.OnDataOpus(t, audio)
		case *codecs.MPEG1Audio:
			r.OnDataMPEG1Audio(t, audio)
		case *codecs.AC3:
			r.OnDataAC3(t, audio)
		case *codecs.G711:
			r.OnDataG711(t, audio)
		case *codecs.FLAC:
			r.OnDataFLAC(t, audio)
		case *codecs.LPCM:
			r.OnDataLPCM(t, audio)
		}
	}
}

func (c *conn) onVideo(pts, dts time.Duration, au [][]byte) {
	pk, ok, err := c.video.packet(pts, dts, au)
	c.write(pk, ok, err)
}

func (c *conn) onAudio(pts time.Duration, frame []byte) {
	pk, ok := c.audio.packet(pts, frame)
	c.write(pk, ok, nil)
}

func (c *conn) write(pk media.Packet, ok bool, err error) {
	if c.werr != nil {
		return
	}
	if err == nil && ok {
		err = c.pub.WritePacket(pk)
	}
	c.werr = err
}

// stream hands the publisher's packets over until either side ends.
func (c *conn) stream(r *gortmplib.Reader) error {
	stop := c.closeOnEnd()
	defer stop()
	for c.werr == nil {
		if err := r.Read(); err != nil {
			if perr := c.pub.Err(); perr != nil {
				return perr // the source side ended it: say why
			}
			return err
		}
	}
	return c.werr
}

// closeOnEnd closes the connection once the publisher ends from the
// source side (takeover, source removed); stop ends the watch.
func (c *conn) closeOnEnd() (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-c.pub.Done():
			c.nc.Close()
		case <-quit:
		}
	}()
	return func() { close(quit); <-done }
}

// deadline bounds the next read or write: ReadTimeout, and the set-up's
// end while it lasts.
func (c *conn) deadline() error {
	d := time.Now().Add(c.timeout)
	if !c.until.IsZero() && c.until.Before(d) {
		d = c.until
	}
	return c.nc.SetDeadline(d)
}

// refuse tells the client why, in an onStatus error, before the close.
func (c *conn) refuse(err error) {
	code, desc := status(err)
	c.nc.SetDeadline(time.Now().Add(c.timeout)) //nolint:errcheck // the write fails alike
	_ = c.sc.Write(&message.CommandAMF0{ChunkStreamID: 5, MessageStreamID: 0x1000000, Name: "onStatus",
		Arguments: []any{nil, amf0.Object{{Key: "level", Value: "error"}, {Key: "code", Value: code},
			{Key: "description", Value: desc}}}})
}

// status is the onStatus code and description of a refusal; details stay
// in the log, save what the publisher's own stream got wrong.
func status(err error) (code, desc string) {
	switch {
	case errors.Is(err, ErrPlayRefused):
		return "NetStream.Play.Failed", ErrPlayRefused.Error()
	case errors.Is(err, publish.ErrUnauthorized):
		return "NetStream.Publish.Unauthorized", publish.ErrUnauthorized.Error()
	case errors.Is(err, ErrBadPath):
		return "NetStream.Publish.BadName", err.Error()
	case errors.Is(err, publish.ErrNoSource):
		return "NetStream.Publish.BadName", publish.ErrNoSource.Error()
	case errors.Is(err, publish.ErrBusy):
		return "NetStream.Publish.BadName", publish.ErrBusy.Error()
	case errors.Is(err, publish.ErrBadStream):
		return "NetStream.Publish.Rejected", err.Error()
	}
	return "NetStream.Publish.Rejected", "publish refused"
}

func (c *conn) logStart(sel selection) {
	v := sel.vt
	args := []any{"name", c.name, "video", fmt.Sprintf("%s %dx%d", v.Codec, v.Width, v.Height)}
	if a := sel.at; a != nil {
		args = append(args, "audio", fmt.Sprintf("%s %d Hz %d ch", a.Codec, a.SampleRate, a.Channels))
	}
	if len(sel.ignored) > 0 {
		args = append(args, "ignored", sel.ignored)
	}
	c.log.Info("rtmp: publishing", args...)
}

func (c *conn) logEnd(err error) {
	switch {
	case c.pub == nil:
		c.log.Warn("rtmp: connection closed before publishing", "name", c.name, "err", logSafe(err))
	case errors.Is(err, io.EOF):
		c.log.Info("rtmp: publisher left", "name", c.name)
	case errors.Is(err, publish.ErrTakenOver), errors.Is(err, publish.ErrSourceGone),
		errors.Is(err, publish.ErrGatewayClosed), errors.Is(err, ErrServerClosed):
		c.log.Info("rtmp: publisher ended", "name", c.name, "err", logSafe(err))
	default:
		c.log.Warn("rtmp: publisher dropped", "name", c.name, "err", logSafe(err))
	}
}

// msgConn is the connection as gortmplib's Reader sees it: each message
// read has its deadline, and the first MP3 frame is kept while probing.
type msgConn struct{ c *conn }

func (m msgConn) Read() (message.Message, error) {
	if err := m.c.deadline(); err != nil {
		return nil, err
	}
	msg, err := m.c.sc.Read()
	if err == nil && m.c.mp3 == nil && !m.c.until.IsZero() {
		m.c.mp3 = mp3Frame(msg)
	}
	return msg, err
}

func (m msgConn) Write(msg message.Message) error { return m.c.sc.Write(msg) }
func (m msgConn) BytesReceived() uint64           { return m.c.sc.BytesReceived() }
func (m msgConn) BytesSent() uint64               { return m.c.sc.BytesSent() }

// mp3Frame is the MPEG-1 audio a message carries, if any.
func mp3Frame(msg message.Message) []byte {
	switch m := msg.(type) {
	case *message.Audio:
		if m.Codec == message.CodecMPEG1Audio && len(m.AU) > 0 {
			return bytes.Clone(m.AU)
		}
	case *message.AudioExCodedFrames:
		if m.FourCC == message.FourCCMP3 && len(m.Payload) > 0 {
			return bytes.Clone(m.Payload)
		}
	}
	return nil
}

// logSafe masks credentials in an error's text (gortmplib's errors may
// quote the tcUrl, user and password included), keeping the error chain.
func logSafe(err error) error {
	if err == nil {
		return nil
	}
	return maskedError{err}
}

type maskedError struct{ err error }

func (e maskedError) Error() string { return config.MaskURLsIn(e.err.Error()) }
func (e maskedError) Unwrap() error { return e.err }

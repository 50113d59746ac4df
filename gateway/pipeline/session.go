package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/internal/recovery"
	"github.com/visiongate/visiongate/transcode"
)

const (
	// packetPool bounds the packets between demux and decode: a slow
	// decoder back-pressures the demuxer instead of queueing.
	packetPool = 8
	// maxDecodeErrors in a row make the session reconnect.
	maxDecodeErrors = 100
)

// errFinished means a finite input ended and should not be retried.
var errFinished = errors.New("input finished")

// session is one connection to the source: from open to failure.
type session struct {
	opts  Options
	stats *stats
	log   *slog.Logger
	in    demuxer
	info  transcode.VideoInfo
	dec   *transcode.Decoder // nil when relaying
	seen  arrivals
}

// demuxer is where a session's packets come from: a libav input
// (transcode.Input) or a publisher's packets (transcode.PacketInput).
type demuxer interface {
	Info() transcode.VideoInfo
	Audio() (transcode.AudioInfo, bool)
	IsAudio(pkt *astiav.Packet) bool
	ReadPacket(ctx context.Context, pkt *astiav.Packet) error
	Interrupt()
	Close()
}

func openSession(ctx context.Context, o Options, st *stats, log *slog.Logger) (*session, error) {
	in, err := openInput(ctx, o, log)
	if errors.Is(err, transcode.ErrNoWhitelist) {
		return nil, fmt.Errorf("%w: %w", errPermanent, err)
	}
	if err != nil {
		return nil, err
	}
	return newSession(in, o, st, log)
}

// openLibav opens the source with libav's demuxers.
func openLibav(ctx context.Context, o Options) (demuxer, error) {
	u := o.URL
	in, err := transcode.OpenInput(ctx, transcode.InputOptions{
		URL: u.Input, Format: u.Format, Options: u.Options, Whitelist: u.Whitelist,
		Transport: o.Source.Transport, ConnectTimeout: o.Source.ConnectTimeout.D,
		ReadTimeout: o.Source.ReadTimeout.D, RealTime: u.RealTime, Loop: u.Loop,
		Egress: u.HostPolicy(), Audio: o.Source.AudioOn(),
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return in, nil
}

// newSession opens the decoder for an opened input, which it then owns.
func newSession(in demuxer, o Options, st *stats, log *slog.Logger) (*session, error) {
	var err error
	s := &session{opts: o, stats: st, log: log, in: in, info: in.Info()}
	if s.transcoding() {
		if s.dec, err = transcode.NewDecoder(s.info.Params, o.Source.HWAccel); err != nil {
			in.Close()
			return nil, err
		}
		st.setInput(s.info, s.dec.Info())
		log.Info("source opened", "codec", s.info.Codec, "size", fmt.Sprintf("%dx%d", s.info.Width, s.info.Height),
			"fps", s.info.FPS, "decoder", s.dec.Info().Name, "hardware", s.dec.Info().Hardware, "reason", s.dec.Info().Reason)
		return s, nil
	}
	st.setInput(s.info, transcode.CodecInfo{Reason: "relay: not decoded"})
	log.Info("source opened, relaying", "codec", s.info.Codec)
	return s, nil
}

// transcoding is false only for an H.264/H.265 input that nothing changes.
func (s *session) transcoding() bool {
	id := s.info.CodecID
	return s.opts.Source.Transcoding() || (id != astiav.CodecIDH264 && id != astiav.CodecIDHevc)
}

func (s *session) close() {
	if s.dec != nil {
		s.dec.Close()
	}
	s.in.Close()
}

func (s *session) run(ctx context.Context, out *output) error {
	audio, hasAudio := s.in.Audio()
	out.beginInput(s.info, audio, hasAudio)
	if s.dec == nil {
		return s.relay(ctx, out)
	}
	return s.transcode(ctx, out)
}

// transcode runs the demuxer in its own goroutine so network reads overlap
// decoding and encoding; packets travel by reference through a bounded
// pool and come back to it once decoded.
func (s *session) transcode(ctx context.Context, out *output) error {
	ctx, cancel := context.WithCancel(ctx)
	pkts, free := make(chan *astiav.Packet, packetPool), make(chan *astiav.Packet, packetPool)
	all := make([]*astiav.Packet, packetPool)
	for i := range all {
		all[i] = astiav.AllocPacket()
		free <- all[i]
	}
	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readErr <- s.demux(ctx, pkts, free)
	}()
	// Deferred so that a panic in decoding still stops the demuxer before
	// the input is closed under it.
	defer func() {
		cancel()
		s.in.Interrupt()
		wg.Wait()
		for _, p := range all {
			p.Free()
		}
	}()
	if err := s.decodeLoop(ctx, pkts, free, out); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err() // stopping; the demuxer may still be finishing
	}
	return s.endOfInput(<-readErr) // the demuxer ended: why?
}

func (s *session) demux(ctx context.Context, pkts chan<- *astiav.Packet, free <-chan *astiav.Packet) (err error) {
	defer close(pkts)
	defer recovery.As(&err, s.log, "demuxer")
	for {
		var pkt *astiav.Packet
		select {
		case <-ctx.Done():
			return ctx.Err()
		case pkt = <-free:
		}
		if err := s.in.ReadPacket(ctx, pkt); err != nil {
			return err
		}
		s.seen.put(pkt.Pts(), time.Now())
		pkts <- pkt // never blocks: pkts holds the whole pool
	}
}

// decodeLoop returns nil when the demuxer stopped (its error says why).
// While nobody needs frames it only keeps the current GOP.
func (s *session) decodeLoop(ctx context.Context, pkts <-chan *astiav.Packet, free chan<- *astiav.Packet, out *output) error {
	frame := astiav.AllocFrame()
	defer frame.Free()
	var gop idleGOP
	defer gop.clear()
	failures := 0
	for pkt := range pkts {
		if s.in.IsAudio(pkt) {
			out.writeAudio(pkt)
			pkt.Unref()
			free <- pkt
			continue
		}
		if !out.needsFrames() {
			if s.stats.encoding.Load() { // no frame will come to stop it
				out.rest()
			}
			s.setDecoding(false)
			s.stats.frameIn()
			gop.keep(pkt)
			pkt.Unref()
			free <- pkt
			continue
		}
		if !s.stats.decoding.Load() {
			s.catchUp(gop.take(), frame)
			s.setDecoding(true)
		}
		start := time.Now()
		err := s.dec.SendPacket(pkt)
		pkt.Unref()
		free <- pkt
		if err != nil && !errors.Is(err, astiav.ErrEagain) {
			if failures++; failures > maxDecodeErrors {
				return fmt.Errorf("decoding failed %d times in a row: %w", failures, err)
			}
			continue
		}
		failures = 0
		if err := s.drainDecoder(frame, out, start); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

func (s *session) setDecoding(on bool) {
	if s.stats.decoding.Swap(on) != on {
		s.log.Debug("decoding", "on", on)
	}
}

// catchUp decodes the GOP kept while idle and discards its pictures: they
// are in the past, but the next packet's picture can now be decoded.
func (s *session) catchUp(gop []*astiav.Packet, frame *astiav.Frame) {
	for _, pkt := range gop {
		if err := s.dec.SendPacket(pkt); err == nil || errors.Is(err, astiav.ErrEagain) {
			for s.dec.ReceiveFrame(frame) == nil {
				frame.Unref()
			}
		}
		pkt.Free()
	}
}

// drainDecoder hands every decoded frame on; start is when the packet
// went into the decoder, for the decode timing.
func (s *session) drainDecoder(frame *astiav.Frame, out *output, start time.Time) error {
	for got := false; ; got = true {
		err := s.dec.ReceiveFrame(frame)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			if !got { // a packet that gave no frame still cost decoding
				s.opts.Observer.Decode(time.Since(start))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("decoding: %w", err)
		}
		s.stats.frameIn()
		s.opts.Observer.Decode(time.Since(start))
		err = out.writeFrame(frame, s.seen.get(frame.Pts()))
		start = time.Now()
		frame.Unref()
		if err != nil {
			return err
		}
	}
}

// endOfInput decides what the demuxer's last error means: a local file
// that ends without looping is finished, everything else is retried.
func (s *session) endOfInput(err error) error {
	if errors.Is(err, transcode.ErrEndOfStream) {
		if s.opts.URL.Kind == config.KindPublish {
			return errPublisherLeft
		}
		if s.opts.URL.Kind != config.KindNetwork {
			return errFinished
		}
		return errors.New("stream ended")
	}
	return err
}

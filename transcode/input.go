// Package transcode wraps libav (through go-astiav) for visiongate: opening
// inputs with a watchdog, decoding with hardware acceleration when it works,
// scaling, and encoding H.264. It knows nothing about the gateway around it.
package transcode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
)

// InputOptions says how to open one input.
type InputOptions struct {
	// URL is what avformat_open_input gets: a URL, a device path or a
	// lavfi graph.
	URL string
	// Format forces an input format ("lavfi", "video4linux2").
	Format string
	// Options are extra demuxer options.
	Options map[string]string
	// Whitelist restricts the protocols the input and anything it opens
	// may use. Required: an empty whitelist is refused.
	Whitelist string
	// Transport is the RTSP lower transport: "auto", "tcp" or "udp".
	Transport string
	// ConnectTimeout bounds opening and probing; ReadTimeout bounds the
	// wait for each packet afterwards.
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	// RealTime paces reading at the stream's timestamps (files, lavfi).
	RealTime bool
	// Loop restarts a finite input at its end, with continuous timestamps.
	Loop bool
	// Egress, when set, is asked before a network input connects, with
	// the addresses its host resolves to (netcheck.go).
	Egress HostPolicy
	// Audio selects the first audio track too (audio.go).
	Audio bool
	// Reader, when set, supplies the bytes instead of URL (a pushed
	// MPEG-TS stream, reader.go); Format names its container.
	Reader ContextReader
}

// VideoInfo describes the selected video track.
type VideoInfo struct {
	CodecID  astiav.CodecID
	Codec    string
	Width    int
	Height   int
	FPS      float64
	TimeBase astiav.Rational
	// Params are the stream's codec parameters, owned by the Input.
	Params *astiav.CodecParameters
}

// Typed errors of Input.
var (
	ErrTimeout      = errors.New("input timed out")
	ErrNoVideo      = errors.New("input has no video track")
	ErrNoWhitelist  = errors.New("input needs a protocol whitelist")
	ErrInterrupted  = errors.New("input interrupted")
	ErrEndOfStream  = errors.New("end of stream")
	ErrTooLarge     = errors.New("picture too large")
	watchdogTick    = 100 * time.Millisecond
	defaultOpenWait = 10 * time.Second
)

// Input is an opened demuxer reading the first video track of a source.
// One goroutine calls ReadPacket; Close may come from any goroutine.
type Input struct {
	opts   InputOptions
	fc     *astiav.FormatContext
	intr   astiav.IOInterrupter
	stream *astiav.Stream
	info   VideoInfo
	// audio is the selected audio track, nil without one (or not asked).
	audio     *astiav.Stream
	audioInfo AudioInfo
	deadline  atomic.Int64 // unix nanos after which the watchdog interrupts
	timedOut  atomic.Bool
	stop      chan struct{}
	// interrupt asks the watchdog to interrupt libav: only the watchdog
	// (then Close, once it is gone) touches the interrupter's flag.
	interrupt chan struct{}
	wg        sync.WaitGroup
	pacer     pacer
	loop      loopState
	closeOne  sync.Once
	opened    bool
	// custom feeds the demuxer from opts.Reader (reader.go).
	custom *customIO
}

// registerDevices makes lavfi and v4l2 available as input formats.
var registerDevices = sync.OnceFunc(astiav.RegisterAllDevices)

// OpenInput opens and probes an input. ctx cancels the attempt; after
// OpenInput returns, cancelling ctx interrupts a blocked ReadPacket too.
func OpenInput(ctx context.Context, opts InputOptions) (*Input, error) {
	if opts.Whitelist == "" {
		return nil, ErrNoWhitelist
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = defaultOpenWait
	}
	deadline := time.Now().Add(opts.ConnectTimeout) // checks and open share it
	var err error
	if opts.Options, err = prepare(ctx, opts); err != nil {
		return nil, err
	}
	registerDevices()
	in := &Input{opts: opts, stop: make(chan struct{}), interrupt: make(chan struct{}, 1)}
	in.fc = astiav.AllocFormatContext()
	if in.fc == nil {
		return nil, errors.New("transcode: allocating format context failed")
	}
	in.intr = in.fc.SetInterruptCallback()
	if err := in.attachReader(); err != nil { // before the watchdog reads in.custom
		in.Close()
		return nil, err
	}
	in.arm(max(time.Until(deadline), watchdogTick))
	in.wg.Add(1)
	go in.watchdog(ctx)
	if err := in.open(); err != nil {
		in.Close()
		return nil, in.explain(ctx, err)
	}
	in.arm(opts.ReadTimeout)
	return in, nil
}

// prepare runs the network checks within the connect timeout.
func prepare(ctx context.Context, opts InputOptions) (map[string]string, error) {
	pctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	o, err := prepareNetwork(pctx, opts)
	switch {
	case err == nil:
		return o, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
	case pctx.Err() != nil:
		return nil, fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	return nil, err
}

func (in *Input) open() error {
	d := astiav.NewDictionary()
	defer d.Free()
	for k, v := range in.demuxerOptions() {
		if err := d.Set(k, v, 0); err != nil {
			return fmt.Errorf("option %s: %w", k, err)
		}
	}
	var format *astiav.InputFormat
	if in.opts.Format != "" {
		if format = astiav.FindInputFormat(in.opts.Format); format == nil {
			return fmt.Errorf("input format %q is not available", in.opts.Format)
		}
	}
	if err := in.fc.OpenInput(in.opts.URL, format, d); err != nil {
		return fmt.Errorf("opening input: %w", err)
	}
	in.opened = true
	if err := in.fc.FindStreamInfo(nil); err != nil {
		return fmt.Errorf("probing input: %w", err)
	}
	if err := in.selectVideo(); err != nil {
		return err
	}
	if in.opts.Audio {
		in.selectAudio()
	}
	return nil
}

func (in *Input) demuxerOptions() map[string]string {
	o := map[string]string{
		"protocol_whitelist": in.opts.Whitelist,
		// Probe briefly: a live camera should start in well under a second.
		"analyzeduration": "1000000",
		"probesize":       "2000000",
	}
	switch in.opts.Transport {
	case "tcp", "udp":
		o["rtsp_transport"] = in.opts.Transport
	}
	for k, v := range in.opts.Options {
		o[k] = v
	}
	return o
}

func (in *Input) selectVideo() error {
	for _, s := range in.fc.Streams() {
		p := s.CodecParameters()
		if p.MediaType() != astiav.MediaTypeVideo || p.Width() <= 0 {
			continue
		}
		if err := checkSize(p.Width(), p.Height()); err != nil {
			return err
		}
		in.stream = s
		fps := in.fc.GuessFrameRate(s, nil)
		in.info = VideoInfo{
			CodecID: p.CodecID(), Codec: p.CodecID().Name(),
			Width: p.Width(), Height: p.Height(), FPS: rationalFloat(fps),
			TimeBase: s.TimeBase(), Params: p,
		}
		in.loop.frameDur = frameDuration(fps, s.TimeBase())
		return nil
	}
	return ErrNoVideo
}

// Info describes the selected video track.
func (in *Input) Info() VideoInfo { return in.info }

// ReadPacket reads the next packet of the video track, or of the audio
// track when one is selected (IsAudio tells), into pkt, waiting for real
// time when pacing. Other tracks are skipped.
func (in *Input) ReadPacket(ctx context.Context, pkt *astiav.Packet) error {
	for {
		in.arm(in.opts.ReadTimeout)
		err := in.fc.ReadFrame(pkt)
		in.arm(0) // pacing must not count against the read timeout
		if err != nil {
			if errors.Is(err, astiav.ErrEof) && in.opts.Loop && in.rewind() == nil {
				continue
			}
			return in.explain(ctx, err)
		}
		keep, err := in.keep(ctx, pkt)
		if err != nil || !keep {
			pkt.Unref()
		}
		if err != nil {
			return err
		}
		if keep {
			return nil
		}
	}
}

// Interrupt makes a blocked or later ReadPacket return at once. The input
// stays allocated until Close, which must not race with ReadPacket.
func (in *Input) Interrupt() {
	select {
	case in.interrupt <- struct{}{}:
	default: // already asked
	}
}

// Close interrupts any blocked call, stops the watchdog and frees libav
// state. Safe to call more than once.
func (in *Input) Close() {
	in.closeOne.Do(func() {
		close(in.stop)
		in.wg.Wait()
		if in.opened {
			in.closeInput()
		}
		in.fc.Free() // after a failed or closed open this is a no-op
		in.custom.free()
	})
}

// closeTimeout bounds closing: RTSP sends TEARDOWN, which a dead camera
// never answers.
const closeTimeout = time.Second

// closeInput lets libav say goodbye (RTSP TEARDOWN, so a camera frees its
// session and stops sending UDP at once) unless the peer already timed
// out, and never waits longer than closeTimeout.
func (in *Input) closeInput() {
	if in.timedOut.Load() {
		in.intr.Interrupt()
	} else {
		in.intr.Resume()
	}
	t := time.AfterFunc(closeTimeout, in.intr.Interrupt)
	in.fc.CloseInput()
	t.Stop()
}

// arm sets the time after which a blocked libav call is interrupted.
func (in *Input) arm(d time.Duration) {
	if d <= 0 {
		in.deadline.Store(0)
		return
	}
	in.deadline.Store(time.Now().Add(d).UnixNano())
}

func (in *Input) watchdog(ctx context.Context) {
	defer in.wg.Done()
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-ctx.Done():
			in.interruptNow()
			return
		case <-in.interrupt:
			in.interruptNow()
		case now := <-t.C:
			if dl := in.deadline.Load(); dl != 0 && now.UnixNano() > dl {
				in.timedOut.Store(true)
				in.interruptNow()
			}
		}
	}
}

// explain turns libav's interrupt errors into typed ones.
func (in *Input) explain(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
	case in.timedOut.Load():
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	case errors.Is(err, astiav.ErrEof):
		return ErrEndOfStream
	}
	return err
}

// MaxDimension bounds the width and the height of input pictures.
const MaxDimension = 8192

// SizeError refuses a picture larger than MaxDimension either way; it
// matches ErrTooLarge.
type SizeError struct{ Width, Height int }

func (e *SizeError) Error() string {
	return fmt.Sprintf("input picture %dx%d is larger than %dx%d", e.Width, e.Height, MaxDimension, MaxDimension)
}

// Unwrap makes errors.Is(err, ErrTooLarge) hold.
func (e *SizeError) Unwrap() error { return ErrTooLarge }

func checkSize(w, h int) error {
	if w > MaxDimension || h > MaxDimension {
		return &SizeError{Width: w, Height: h}
	}
	return nil
}

func rationalFloat(r astiav.Rational) float64 {
	if r.Den() == 0 {
		return 0
	}
	return float64(r.Num()) / float64(r.Den())
}

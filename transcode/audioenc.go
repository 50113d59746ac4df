package transcode

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// AudioRate is the sample rate AudioEncoder writes: what browsers play,
// and Opus's own.
const AudioRate = 48000

// Encoders AudioEncoder writes with.
const (
	EncodeAAC  = "aac"     // AAC-LC, libavcodec's own
	EncodeOpus = "libopus" // Opus
)

// AudioEncoder turns a camera's sound in any codec libav decodes (G.711,
// AC-3, MP3, ...) into AAC-LC or Opus at 48 kHz, mono or stereo, for
// outputs that carry only those. One goroutine uses it; Close frees
// everything.
type AudioEncoder struct {
	dec      *astiav.CodecContext
	graph    *astiav.FilterGraph
	src      *astiav.FilterContext
	sink     *astiav.FilterContext
	enc      *astiav.CodecContext
	frame    *astiav.Frame
	filtered *astiav.Frame
	pkt      *astiav.Packet
}

// AudioChannels is how many channels AudioEncoder writes for an input.
func AudioChannels(inputChannels int) int { return min(max(inputChannels, 1), 2) }

// NewAudioEncoder opens the decoder, the resampler and the encoder
// (EncodeAAC or EncodeOpus) for the audio track a.
func NewAudioEncoder(a AudioInfo, encoder string) (*AudioEncoder, error) {
	e := &AudioEncoder{frame: astiav.AllocFrame(), filtered: astiav.AllocFrame(), pkt: astiav.AllocPacket()}
	if err := e.openDecoder(a); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.openEncoder(encoder, AudioChannels(a.Channels)); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.openFilter(a.TimeBase); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *AudioEncoder) openDecoder(a AudioInfo) error {
	codec := astiav.FindDecoder(a.CodecID)
	if codec == nil {
		return fmt.Errorf("no decoder for %s", a.Codec)
	}
	e.dec = astiav.AllocCodecContext(codec)
	if e.dec == nil {
		return errors.New("allocating audio decoder failed")
	}
	if err := a.Params.ToCodecContext(e.dec); err != nil {
		return err
	}
	e.dec.SetTimeBase(a.TimeBase)
	return e.dec.Open(codec, nil)
}

func (e *AudioEncoder) openEncoder(name string, channels int) (err error) {
	e.enc, err = openAudioCodec(name, AudioRate, channels)
	return err
}

// openAudioCodec opens encoder name at rate with 1 or 2 channels, in its
// first sample format (fltp for aac, s16 for libopus); its configuration
// goes to the extradata. The caller frees it.
func openAudioCodec(name string, rate, channels int) (*astiav.CodecContext, error) {
	codec := astiav.FindEncoderByName(name)
	if codec == nil || len(codec.SampleFormats()) == 0 {
		return nil, fmt.Errorf("libavcodec has no %s encoder", name)
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, fmt.Errorf("allocating %s encoder failed", name)
	}
	layout := astiav.ChannelLayoutMono
	if channels == 2 {
		layout = astiav.ChannelLayoutStereo
	}
	cc.SetChannelLayout(layout)
	cc.SetSampleRate(rate)
	cc.SetSampleFormat(codec.SampleFormats()[0])
	cc.SetBitRate(int64(64000 * channels))
	cc.SetTimeBase(astiav.NewRational(1, rate))
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	if err := cc.Open(codec, nil); err != nil {
		cc.Free()
		return nil, err
	}
	return cc, nil
}

// openFilter resamples to the encoder's format and cuts its frame size.
func (e *AudioEncoder) openFilter(tb astiav.Rational) error {
	e.graph = astiav.AllocFilterGraph()
	if e.graph == nil {
		return errors.New("allocating audio filter failed")
	}
	var err error
	args := astiav.FilterArgs{
		"channel_layout": e.dec.ChannelLayout().String(), "sample_fmt": e.dec.SampleFormat().Name(),
		"sample_rate": strconv.Itoa(e.dec.SampleRate()), "time_base": tb.String(),
	}
	if e.src, err = e.graph.NewFilterContext(astiav.FindFilterByName("abuffer"), "in", args); err != nil {
		return err
	}
	if e.sink, err = e.graph.NewFilterContext(astiav.FindFilterByName("abuffersink"), "out", nil); err != nil {
		return err
	}
	outputs, inputs := astiav.AllocFilterInOut(), astiav.AllocFilterInOut()
	defer outputs.Free()
	defer inputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(e.src)
	inputs.SetName("out")
	inputs.SetFilterContext(e.sink)
	graph := fmt.Sprintf("aresample=%d,aformat=sample_fmts=%s:channel_layouts=%s,asetnsamples=n=%d:p=0,asettb=1/%d",
		AudioRate, e.enc.SampleFormat().Name(), e.enc.ChannelLayout().String(), e.enc.FrameSize(), AudioRate)
	if err := e.graph.Parse(graph, inputs, outputs); err != nil {
		return err
	}
	return e.graph.Configure()
}

// Config is the encoder's configuration: AAC's AudioSpecificConfig.
func (e *AudioEncoder) Config() []byte { return append([]byte(nil), e.enc.ExtraData()...) }

// Encode decodes pkt and calls emit with each finished frame (an AAC
// access unit, an Opus packet) and its timestamp at 1/AudioRate, on the
// input's clock.
func (e *AudioEncoder) Encode(pkt *astiav.Packet, emit func(au []byte, pts int64)) error {
	if err := e.dec.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
		return err
	}
	for e.dec.ReceiveFrame(e.frame) == nil {
		err := e.src.BuffersrcAddFrame(e.frame, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef))
		e.frame.Unref()
		if err != nil {
			return err
		}
		if err := e.drainFilter(emit); err != nil {
			return err
		}
	}
	return nil
}

func (e *AudioEncoder) drainFilter(emit func([]byte, int64)) error {
	for e.sink.BuffersinkGetFrame(e.filtered, astiav.NewBuffersinkFlags()) == nil {
		err := e.enc.SendFrame(e.filtered)
		e.filtered.Unref()
		if err != nil {
			return err
		}
		for e.enc.ReceivePacket(e.pkt) == nil {
			emit(append([]byte(nil), e.pkt.Data()...), e.pkt.Pts())
			e.pkt.Unref()
		}
	}
	return nil
}

// Close frees the codecs, the filter and the frames.
func (e *AudioEncoder) Close() {
	if e.graph != nil {
		e.graph.Free() // frees its filter contexts
	}
	for _, cc := range []*astiav.CodecContext{e.dec, e.enc} {
		if cc != nil {
			cc.Free()
		}
	}
	e.frame.Free()
	e.filtered.Free()
	e.pkt.Free()
}

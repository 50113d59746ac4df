package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/media"
)

// PacketSource returns the next pushed packet, io.EOF once the publisher
// has left; a cancelled ctx must make it return.
type PacketSource func(ctx context.Context) (media.Packet, error)

// PacketInput reads access units that a publisher pushed (RTSP RECORD,
// RTMP, WHIP) as if they came from a demuxer: stream 0 is the video,
// stream 1 the audio.
type PacketInput struct {
	info      VideoInfo
	audioInfo AudioInfo
	hasAudio  bool
	next      PacketSource
	ctx       context.Context
	cancel    context.CancelFunc
	// merged ends with the caller's context (parent) or Interrupt; made
	// once per caller context, not per packet.
	parent    context.Context
	merged    context.Context
	stopMerge func()
	closeOnce sync.Once
}

// ErrCodec refuses a pushed track visiongate cannot decode.
var ErrCodec = errors.New("unsupported codec")

var pushCodecs = map[media.Codec]astiav.CodecID{
	media.CodecH264: astiav.CodecIDH264, media.CodecH265: astiav.CodecIDHevc, media.CodecVP8: astiav.CodecIDVp8,
	media.CodecVP9: astiav.CodecIDVp9, media.CodecAAC: astiav.CodecIDAac,
	media.CodecOpus: astiav.CodecIDOpus, media.CodecPCMU: astiav.CodecIDPcmMulaw,
	media.CodecPCMA: astiav.CodecIDPcmAlaw, media.CodecMP3: astiav.CodecIDMp3, media.CodecAC3: astiav.CodecIDAc3,
}

// NewPacketInput describes the pushed tracks to libav; audio may be nil.
func NewPacketInput(video media.Track, audio *media.Track, next PacketSource) (*PacketInput, error) {
	if err := checkSize(video.Width, video.Height); err != nil {
		return nil, err
	}
	vp, err := pushParams(video, astiav.MediaTypeVideo)
	if err != nil {
		return nil, err
	}
	vp.SetWidth(video.Width)
	vp.SetHeight(video.Height)
	in := &PacketInput{next: next, info: VideoInfo{CodecID: vp.CodecID(), Codec: vp.CodecID().Name(),
		Width: video.Width, Height: video.Height, TimeBase: astiav.NewRational(1, video.ClockRate), Params: vp}}
	if audio != nil {
		in.hasAudio = in.describeAudio(*audio) == nil // a track we cannot carry plays silent
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	return in, nil
}

func pushParams(t media.Track, kind astiav.MediaType) (*astiav.CodecParameters, error) {
	id, ok := pushCodecs[t.Codec]
	if t.Codec == media.CodecAV1 {
		id, ok = av1CodecID()
	}
	if !ok || (kind == astiav.MediaTypeVideo) != (t.Codec == media.CodecH264 || t.Codec == media.CodecH265 ||
		t.Codec == media.CodecVP8 || t.Codec == media.CodecVP9 || t.Codec == media.CodecAV1) {
		return nil, fmt.Errorf("%w: %s track in %q", ErrCodec, kind, t.Codec)
	}
	if t.ClockRate <= 0 {
		return nil, fmt.Errorf("%w: clock rate %d", ErrCodec, t.ClockRate)
	}
	p := astiav.AllocCodecParameters()
	p.SetMediaType(kind)
	p.SetCodecID(id)
	if len(t.Config) > 0 {
		if err := p.SetExtraData(t.Config); err != nil {
			p.Free()
			return nil, err
		}
	}
	return p, nil
}

// av1CodecID finds AV1's id through a decoder: go-astiav names no constant.
func av1CodecID() (astiav.CodecID, bool) {
	for _, name := range []string{"libdav1d", "av1"} {
		if c := astiav.FindDecoderByName(name); c != nil {
			return c.ID(), true
		}
	}
	return 0, false
}

func (in *PacketInput) describeAudio(a media.Track) error {
	if a.SampleRate <= 0 || a.Channels <= 0 {
		return fmt.Errorf("%w: audio %d Hz, %d channels", ErrCodec, a.SampleRate, a.Channels)
	}
	p, err := pushParams(a, astiav.MediaTypeAudio)
	if err != nil {
		return err
	}
	p.SetSampleRate(a.SampleRate)
	layout := astiav.ChannelLayoutMono
	if a.Channels > 1 {
		layout = astiav.ChannelLayoutStereo
	}
	p.SetChannelLayout(layout)
	in.audioInfo = AudioInfo{CodecID: p.CodecID(), Codec: p.CodecID().Name(), SampleRate: a.SampleRate,
		Channels: min(a.Channels, 2), TimeBase: astiav.NewRational(1, a.ClockRate),
		ExtraData: append([]byte(nil), a.Config...), Profile: aacProfile(a), Params: p}
	return nil
}

// aacProfile is libav's profile for an AAC AudioSpecificConfig: the
// object type less one (AAC LC = 1).
func aacProfile(a media.Track) int {
	if a.Codec != media.CodecAAC || len(a.Config) == 0 {
		return 0
	}
	return int(a.Config[0]>>3) - 1
}

// Info describes the video track.
func (in *PacketInput) Info() VideoInfo { return in.info }

// Audio describes the audio track; ok is false without one.
func (in *PacketInput) Audio() (AudioInfo, bool) { return in.audioInfo, in.hasAudio }

// IsAudio tells whether a packet from ReadPacket is audio.
func (in *PacketInput) IsAudio(pkt *astiav.Packet) bool { return in.hasAudio && pkt.StreamIndex() == 1 }

// ReadPacket waits for the next packet; ErrEndOfStream once the publisher
// has left, ErrInterrupted after Interrupt or when ctx ends.
func (in *PacketInput) ReadPacket(ctx context.Context, pkt *astiav.Packet) error {
	for {
		pk, err := in.read(ctx)
		if err != nil {
			return err
		}
		if pk.Audio && !in.hasAudio || len(pk.Data) == 0 {
			continue
		}
		if err := pkt.FromData(pk.Data); err != nil {
			return err
		}
		pkt.SetPts(pk.PTS)
		pkt.SetDts(pk.DTS)
		pkt.SetStreamIndex(0)
		if pk.Audio {
			pkt.SetStreamIndex(1)
		}
		if pk.Key {
			pkt.SetFlags(pkt.Flags().Add(astiav.PacketFlagKey))
		}
		return nil
	}
}

func (in *PacketInput) read(ctx context.Context) (media.Packet, error) {
	ctx = in.mergedWith(ctx)
	pk, err := in.next(ctx)
	switch {
	case err == nil:
		return pk, nil
	case errors.Is(err, io.EOF):
		return pk, ErrEndOfStream
	case ctx.Err() != nil:
		return pk, fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
	}
	return pk, err
}

// mergedWith returns a context that ends with ctx or with Interrupt; the
// one reader goroutine calls it.
func (in *PacketInput) mergedWith(ctx context.Context) context.Context {
	if ctx != in.parent {
		if in.stopMerge != nil {
			in.stopMerge()
		}
		in.parent = ctx
		in.merged, in.stopMerge = mergeCancel(ctx, in.ctx)
	}
	return in.merged
}

// mergeCancel returns a context that ends with either parent.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}

// Interrupt makes a blocked or later ReadPacket return.
func (in *PacketInput) Interrupt() { in.cancel() }

// Close frees the codec parameters; no ReadPacket may run.
func (in *PacketInput) Close() {
	in.closeOnce.Do(func() {
		in.cancel()
		if in.stopMerge != nil {
			in.stopMerge()
		}
		in.info.Params.Free()
		if in.audioInfo.Params != nil {
			in.audioInfo.Params.Free()
		}
	})
}

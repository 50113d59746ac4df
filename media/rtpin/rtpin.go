// Package rtpin turns the RTP packets of an RTSP session's tracks into
// media packets: access units in Annex B with decoding timestamps and the
// parameter sets before keyframes, audio frame by frame. The RTSP server
// (RECORD) and the RTSP client (PLAY) share it.
package rtpin

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpac3"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg1audio"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/ac3"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/media"
)

// ErrNoVideo refuses a session description (ANNOUNCE or DESCRIBE) without
// an H.264 or H.265 track.
var ErrNoVideo = errors.New("rtsp: no H.264 or H.265 video track announced")

// ParamError refuses an announced track whose parameters cannot be read.
type ParamError struct {
	Codec media.Codec
	Err   error
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("rtsp: announced %s parameters: %v", e.Codec, e.Err)
}

func (e *ParamError) Unwrap() error { return e.Err }

// Track is an announced track that is taken: where its packets come
// from, what it is, and how its RTP packets become media packets.
type Track struct {
	Media  *description.Media
	Format format.Format
	Info   media.Track
	unpack func(pkt *rtp.Packet, pts int64) ([]media.Packet, error)
}

// IsAudio tells an audio track from an H.264/H.265 one.
func (t *Track) IsAudio() bool {
	return t.Info.Codec != media.CodecH264 && t.Info.Codec != media.CodecH265
}

// Unpack turns one RTP packet, presented at pts (in the track's clock),
// into the packets it completes. Calls must not overlap; the packets own
// their data.
func (t *Track) Unpack(pkt *rtp.Packet, pts int64) ([]media.Packet, error) {
	return t.unpack(pkt, pts)
}

// Select picks the first video and the first audio track that can be
// taken; other tracks are set up but ignored.
func Select(desc *description.Session) (video, audio *Track, err error) {
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			t, err := ForFormat(f)
			if err != nil {
				return nil, nil, err
			}
			if t == nil || (t.IsAudio() && audio != nil) || (!t.IsAudio() && video != nil) {
				continue
			}
			t.Media, t.Format = m, f
			if t.IsAudio() {
				audio = t
			} else {
				video = t
			}
			break
		}
	}
	if video == nil {
		return nil, nil, ErrNoVideo
	}
	return video, audio, nil
}

// ForFormat maps an announced format to a track; nil for a codec that is
// not taken.
func ForFormat(f format.Format) (*Track, error) {
	switch f := f.(type) {
	case *format.H264:
		return h264Track(f)
	case *format.H265:
		return h265Track(f)
	case *format.MPEG4Audio:
		return aacTrack(f)
	case *format.Opus:
		return opusTrack(f)
	case *format.G711:
		return g711Track(f)
	case *format.MPEG1Audio:
		return mp3Track(f)
	case *format.AC3:
		return ac3Track(f)
	}
	return nil, nil
}

func h264Track(f *format.H264) (*Track, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecH264, Err: err}
	}
	sps, pps := f.SafeParams()
	v := newVideoUnpacker(media.CodecH264, nil, sps, pps, func(p *rtp.Packet) ([][]byte, error) {
		au, err := dec.Decode(p)
		if errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
			return nil, nil
		}
		return au, err
	})
	t := &Track{Info: media.Track{Codec: media.CodecH264, ClockRate: f.ClockRate()}, unpack: v.unpack}
	if len(sps) == 0 {
		return t, nil // in band only
	}
	pic, err := ParseSPS(media.CodecH264, sps)
	if err != nil {
		return nil, err
	}
	t.Info.Width, t.Info.Height = pic.Width, pic.Height
	t.Info.Config = annexB([][]byte{sps, pps})
	return t, nil
}

func h265Track(f *format.H265) (*Track, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecH265, Err: err}
	}
	vps, sps, pps := f.SafeParams()
	v := newVideoUnpacker(media.CodecH265, vps, sps, pps, func(p *rtp.Packet) ([][]byte, error) {
		au, err := dec.Decode(p)
		if errors.Is(err, rtph265.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
			return nil, nil
		}
		return au, err
	})
	t := &Track{Info: media.Track{Codec: media.CodecH265, ClockRate: f.ClockRate()}, unpack: v.unpack}
	if len(sps) == 0 {
		return t, nil
	}
	pic, err := ParseSPS(media.CodecH265, sps)
	if err != nil {
		return nil, err
	}
	t.Info.Width, t.Info.Height = pic.Width, pic.Height
	t.Info.Config = annexB([][]byte{vps, sps, pps})
	return t, nil
}

func aacTrack(f *format.MPEG4Audio) (*Track, error) {
	conf, err := f.Config.Marshal()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecAAC, Err: err}
	}
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecAAC, Err: err}
	}
	samples := int64(mpeg4audio.SamplesPerAccessUnit)
	if f.Config.FrameLengthFlag {
		samples = 960
	}
	a := &audioUnpacker{
		decode: func(p *rtp.Packet) ([][]byte, error) {
			aus, err := dec.Decode(p)
			if errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded) {
				return nil, nil
			}
			return aus, err
		},
		duration: func([]byte) (int64, error) { return samples, nil },
	}
	return &Track{Info: media.Track{Codec: media.CodecAAC, ClockRate: f.ClockRate(), Config: conf,
		SampleRate: f.Config.SampleRate, Channels: aacChannels(f.Config)}, unpack: a.unpack}, nil
}

// aacChannels counts the channels of a configuration as RFC 3640's rtpmap
// does; 0 when a program config element in band says it.
func aacChannels(c *mpeg4audio.AudioSpecificConfig) int {
	switch {
	case c.ExtensionType == mpeg4audio.ObjectTypePS:
		return 2
	case c.ChannelConfig == 7:
		return 8
	case c.ChannelConfig >= 1 && c.ChannelConfig <= 6:
		return int(c.ChannelConfig)
	}
	return 0
}

func opusTrack(f *format.Opus) (*Track, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecOpus, Err: err}
	}
	a := &audioUnpacker{decode: oneFrame(dec.Decode)}
	return &Track{Info: media.Track{Codec: media.CodecOpus, ClockRate: f.ClockRate(),
		SampleRate: f.ClockRate(), Channels: f.ChannelCount}, unpack: a.unpack}, nil
}

func g711Track(f *format.G711) (*Track, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecPCMU, Err: err}
	}
	codec := media.CodecPCMA
	if f.MULaw {
		codec = media.CodecPCMU
	}
	a := &audioUnpacker{decode: oneFrame(dec.Decode)}
	return &Track{Info: media.Track{Codec: codec, ClockRate: f.ClockRate(),
		SampleRate: f.SampleRate, Channels: f.ChannelCount}, unpack: a.unpack}, nil
}

// mp3Track takes MPEG audio layer III; the SDP does not tell the sample
// rate or the channels, which are in every frame's header.
func mp3Track(f *format.MPEG1Audio) (*Track, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecMP3, Err: err}
	}
	rate := int64(f.ClockRate())
	a := &audioUnpacker{
		decode: func(p *rtp.Packet) ([][]byte, error) {
			frames, err := dec.Decode(p)
			if errors.Is(err, rtpmpeg1audio.ErrMorePacketsNeeded) || errors.Is(err, rtpmpeg1audio.ErrNonStartingPacketAndNoPrevious) {
				return nil, nil
			}
			return frames, err
		},
		duration: func(frame []byte) (int64, error) {
			var h mpeg1audio.FrameHeader
			if err := h.Unmarshal(frame); err != nil {
				return 0, err
			}
			if h.Layer != 3 {
				return 0, fmt.Errorf("%w: MPEG audio layer %d", errNotMP3, h.Layer)
			}
			return int64(h.SampleCount()) * rate / int64(h.SampleRate), nil
		},
	}
	return &Track{Info: media.Track{Codec: media.CodecMP3, ClockRate: f.ClockRate()}, unpack: a.unpack}, nil
}

var errNotMP3 = errors.New("rtsp: only MP3 is taken")

func ac3Track(f *format.AC3) (*Track, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecAC3, Err: err}
	}
	a := &audioUnpacker{
		decode: func(p *rtp.Packet) ([][]byte, error) {
			frames, err := dec.Decode(p)
			if errors.Is(err, rtpac3.ErrMorePacketsNeeded) || errors.Is(err, rtpac3.ErrNonStartingPacketAndNoPrevious) {
				return nil, nil
			}
			return frames, err
		},
		duration: func([]byte) (int64, error) { return ac3.SamplesPerFrame, nil },
	}
	return &Track{Info: media.Track{Codec: media.CodecAC3, ClockRate: f.ClockRate(),
		SampleRate: f.SampleRate, Channels: f.ChannelCount}, unpack: a.unpack}, nil
}

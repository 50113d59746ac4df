package rtsp

import (
	"bytes"
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
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/media"
)

// ErrNoVideo refuses an ANNOUNCE without an H.264 or H.265 track.
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

// inTrack is an announced track that is taken: where its packets come
// from, what it is, and how its RTP packets become media packets.
type inTrack struct {
	medi   *description.Media
	forma  format.Format
	track  media.Track
	unpack func(pkt *rtp.Packet, pts int64) ([]media.Packet, error)
}

func (t *inTrack) isAudio() bool {
	return t.track.Codec != media.CodecH264 && t.track.Codec != media.CodecH265
}

// announcedTracks picks the first video and the first audio track that
// can be taken; other tracks are set up but ignored.
func announcedTracks(desc *description.Session) (video, audio *inTrack, err error) {
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			t, err := trackFor(f)
			if err != nil {
				return nil, nil, err
			}
			if t == nil || (t.isAudio() && audio != nil) || (!t.isAudio() && video != nil) {
				continue
			}
			t.medi, t.forma = m, f
			if t.isAudio() {
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

// trackFor maps an announced format to a track; nil for a codec that is
// not taken.
func trackFor(f format.Format) (*inTrack, error) {
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

func h264Track(f *format.H264) (*inTrack, error) {
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
	t := &inTrack{track: media.Track{Codec: media.CodecH264, ClockRate: f.ClockRate()}, unpack: v.unpack}
	if len(sps) == 0 {
		return t, nil // in band only
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, &ParamError{Codec: media.CodecH264, Err: err}
	}
	t.track.Width, t.track.Height = s.Width(), s.Height()
	t.track.Config = annexB([][]byte{sps, pps})
	return t, nil
}

func h265Track(f *format.H265) (*inTrack, error) {
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
	t := &inTrack{track: media.Track{Codec: media.CodecH265, ClockRate: f.ClockRate()}, unpack: v.unpack}
	if len(sps) == 0 {
		return t, nil
	}
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, &ParamError{Codec: media.CodecH265, Err: err}
	}
	t.track.Width, t.track.Height = s.Width(), s.Height()
	t.track.Config = annexB([][]byte{vps, sps, pps})
	return t, nil
}

func aacTrack(f *format.MPEG4Audio) (*inTrack, error) {
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
	return &inTrack{track: media.Track{Codec: media.CodecAAC, ClockRate: f.ClockRate(), Config: conf,
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

func opusTrack(f *format.Opus) (*inTrack, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecOpus, Err: err}
	}
	a := &audioUnpacker{decode: oneFrame(dec.Decode)}
	return &inTrack{track: media.Track{Codec: media.CodecOpus, ClockRate: f.ClockRate(),
		SampleRate: f.ClockRate(), Channels: f.ChannelCount}, unpack: a.unpack}, nil
}

func g711Track(f *format.G711) (*inTrack, error) {
	dec, err := f.CreateDecoder()
	if err != nil {
		return nil, &ParamError{Codec: media.CodecPCMU, Err: err}
	}
	codec := media.CodecPCMA
	if f.MULaw {
		codec = media.CodecPCMU
	}
	a := &audioUnpacker{decode: oneFrame(dec.Decode)}
	return &inTrack{track: media.Track{Codec: codec, ClockRate: f.ClockRate(),
		SampleRate: f.SampleRate, Channels: f.ChannelCount}, unpack: a.unpack}, nil
}

// mp3Track takes MPEG audio layer III; the SDP does not tell the sample
// rate or the channels, which are in every frame's header.
func mp3Track(f *format.MPEG1Audio) (*inTrack, error) {
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
	return &inTrack{track: media.Track{Codec: media.CodecMP3, ClockRate: f.ClockRate()}, unpack: a.unpack}, nil
}

var errNotMP3 = errors.New("rtsp: only MP3 is taken")

func ac3Track(f *format.AC3) (*inTrack, error) {
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
	return &inTrack{track: media.Track{Codec: media.CodecAC3, ClockRate: f.ClockRate(),
		SampleRate: f.SampleRate, Channels: f.ChannelCount}, unpack: a.unpack}, nil
}

// oneFrame adapts a decoder that returns one frame per packet.
func oneFrame(decode func(*rtp.Packet) ([]byte, error)) func(*rtp.Packet) ([][]byte, error) {
	return func(p *rtp.Packet) ([][]byte, error) {
		b, err := decode(p)
		if err != nil {
			return nil, err
		}
		return [][]byte{b}, nil
	}
}

// audioUnpacker turns the frames of one RTP packet into packets, one per
// frame, the first at the packet's PTS.
type audioUnpacker struct {
	decode func(*rtp.Packet) ([][]byte, error)
	// duration of a frame in the track's clock; nil when every RTP packet
	// carries one frame.
	duration func(frame []byte) (int64, error)
}

func (a *audioUnpacker) unpack(pkt *rtp.Packet, pts int64) ([]media.Packet, error) {
	frames, err := a.decode(pkt)
	if err != nil || len(frames) == 0 {
		return nil, err
	}
	out := make([]media.Packet, 0, len(frames))
	for _, f := range frames {
		var d int64
		if a.duration != nil {
			if d, err = a.duration(f); err != nil {
				return out, err
			}
		}
		// gortsplib reuses its read buffer: the packet owns a copy.
		out = append(out, media.Packet{Audio: true, PTS: pts, DTS: pts, Key: true, Data: bytes.Clone(f)})
		pts += d
	}
	return out, nil
}

// dtsExtractor is what h264.DTSExtractor and h265.DTSExtractor share.
type dtsExtractor interface {
	Extract(au [][]byte, pts int64) (int64, error)
}

func newDTSExtractor(codec media.Codec) dtsExtractor {
	if codec == media.CodecH265 {
		d := &h265.DTSExtractor{}
		d.Initialize()
		return d
	}
	d := &h264.DTSExtractor{}
	d.Initialize()
	return d
}

// videoUnpacker turns RTP packets into access units in Annex B, with the
// parameter sets in front of every keyframe and a decoding timestamp.
type videoUnpacker struct {
	codec  media.Codec
	decode func(*rtp.Packet) ([][]byte, error)
	// params are the last VPS (H.265), SPS and PPS, announced or in band;
	// owned copies, since the extractor keeps the SPS (and PPS) it gets.
	params [3][]byte
	dts    dtsExtractor
	// synced: the extractor has seen a keyframe; until then, units are
	// dropped, as no decoder could use them either.
	synced bool
}

func newVideoUnpacker(codec media.Codec, vps, sps, pps []byte, decode func(*rtp.Packet) ([][]byte, error)) *videoUnpacker {
	return &videoUnpacker{codec: codec, decode: decode, params: [3][]byte{vps, sps, pps}, dts: newDTSExtractor(codec)}
}

func (v *videoUnpacker) unpack(pkt *rtp.Packet, pts int64) ([]media.Packet, error) {
	au, err := v.decode(pkt)
	if err != nil || len(au) == 0 {
		return nil, err
	}
	au = v.keepParams(au)
	key := v.isKey(au)
	if !v.synced && !key {
		return nil, nil
	}
	if key {
		info := &media.StreamInfo{Codec: v.codec, VPS: v.params[0], SPS: v.params[1], PPS: v.params[2]}
		au = media.WithParams(info, &media.AccessUnit{NALUs: au, IDR: true}, nil)
	}
	dts, err := v.dts.Extract(au, pts)
	if err != nil {
		// Start over at the next keyframe rather than guess.
		v.dts, v.synced = newDTSExtractor(v.codec), false
		return nil, err
	}
	v.synced = true
	return []media.Packet{{PTS: pts, DTS: dts, Key: key, Data: annexB(au)}}, nil
}

func (v *videoUnpacker) isKey(au [][]byte) bool {
	if v.codec == media.CodecH265 {
		return h265.IsRandomAccess(au)
	}
	return h264.IsRandomAccess(au)
}

// keepParams remembers in-band parameter sets and returns au with them
// replaced by the owned copies, and without empty NAL units.
func (v *videoUnpacker) keepParams(au [][]byte) [][]byte {
	out := make([][]byte, 0, len(au))
	for _, n := range au {
		if len(n) == 0 {
			continue // the codec helpers index n[0]
		}
		if i := v.paramIndex(n); i >= 0 {
			if !bytes.Equal(v.params[i], n) {
				v.params[i] = bytes.Clone(n)
			}
			n = v.params[i]
		}
		out = append(out, n)
	}
	return out
}

// paramIndex places a NAL unit in params, or -1 when it is none.
func (v *videoUnpacker) paramIndex(n []byte) int {
	switch typ := media.NALUType(v.codec, n); {
	case v.codec == media.CodecH265 && typ == media.H265NALVPS:
		return 0
	case v.codec == media.CodecH265 && typ == media.H265NALSPS, v.codec == media.CodecH264 && typ == media.H264NALSPS:
		return 1
	case v.codec == media.CodecH265 && typ == media.H265NALPPS, v.codec == media.CodecH264 && typ == media.H264NALPPS:
		return 2
	}
	return -1
}

// annexB joins NAL units with 4-byte start codes into a new buffer; empty
// ones are left out.
func annexB(nalus [][]byte) []byte {
	n := 0
	for _, u := range nalus {
		n += 4 + len(u)
	}
	b := make([]byte, 0, n)
	for _, u := range nalus {
		if len(u) > 0 {
			b = append(b, 0, 0, 0, 1)
			b = append(b, u...)
		}
	}
	return b
}

package rtmp

import (
	"fmt"
	"strings"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

// The largest picture, as the broker allows it (8K): checked again here
// for parameter sets that change in the middle of a stream.
const (
	maxSide   = 8192
	maxPixels = 8192 * 4320
)

// G.711 is always sampled at 8 kHz; Opus timestamps run at 48 kHz.
const (
	g711Rate = 8000
	opusRate = 48000
)

// selection is what becomes of a publisher's tracks: the first video
// track, and the first audio track visiongate can carry.
type selection struct {
	video, audio *gortmplib.Track
	vt, at       *media.Track
	// ignored says why other tracks are left out, for the log.
	ignored []string
}

// selectTracks describes the tracks gortmplib found; mp3 is the first
// MPEG-1 audio frame seen, which alone tells its sample rate.
func selectTracks(tracks []*gortmplib.Track, mp3 []byte) (selection, error) {
	var sel selection
	for _, t := range tracks {
		if t == nil || t.Codec == nil {
			continue
		}
		if err := sel.add(t, mp3); err != nil {
			return sel, err
		}
	}
	if sel.video == nil {
		return sel, fmt.Errorf("%w: no video track", publish.ErrBadStream)
	}
	return sel, nil
}

// add takes the first video track (refusing the stream when it is
// unusable) and the first usable audio track.
func (s *selection) add(t *gortmplib.Track, mp3 []byte) error {
	switch {
	case t.Codec.IsVideo() && s.video == nil:
		vt, err := videoTrack(t.Codec)
		if err != nil {
			return err
		}
		s.video, s.vt = t, vt
	case t.Codec.IsVideo():
		s.ignored = append(s.ignored, "extra video track "+codecName(t.Codec))
	case s.audio == nil:
		at, err := audioTrack(t.Codec, mp3)
		if err != nil {
			s.ignored = append(s.ignored, err.Error())
			return nil
		}
		s.audio, s.at = t, at
	default:
		s.ignored = append(s.ignored, "extra audio track "+codecName(t.Codec))
	}
	return nil
}

func videoTrack(c codecs.Codec) (*media.Track, error) {
	switch c := c.(type) {
	case *codecs.H264:
		w, h, err := h264Size(c.SPS)
		if err != nil {
			return nil, err
		}
		return &media.Track{Codec: media.CodecH264, ClockRate: media.ClockRate, Width: w, Height: h,
			Config: annexB(nil, c.SPS, c.PPS)}, nil
	case *codecs.H265:
		w, h, err := h265Size(c.SPS)
		if err != nil {
			return nil, err
		}
		return &media.Track{Codec: media.CodecH265, ClockRate: media.ClockRate, Width: w, Height: h,
			Config: annexB(nil, c.VPS, c.SPS, c.PPS)}, nil
	}
	return nil, fmt.Errorf("%w: video codec %s (RTMP takes H.264 and H.265)", publish.ErrBadStream, codecName(c))
}

// h264Size is the picture size an SPS announces.
func h264Size(sps []byte) (int, int, error) {
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return 0, 0, fmt.Errorf("%w: H.264 SPS: %w", publish.ErrBadStream, err)
	}
	codedW := (int64(s.PicWidthInMbsMinus1) + 1) * 16
	codedH := (int64(s.PicHeightInMapUnitsMinus1) + 1) * 16
	if !s.FrameMbsOnlyFlag {
		codedH *= 2
	}
	return checkSize(cropped(s.Width(), codedW), cropped(s.Height(), codedH))
}

// h265Size is the picture size an SPS announces.
func h265Size(sps []byte) (int, int, error) {
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return 0, 0, fmt.Errorf("%w: H.265 SPS: %w", publish.ErrBadStream, err)
	}
	return checkSize(cropped(s.Width(), int64(s.PicWidthInLumaSamples)),
		cropped(s.Height(), int64(s.PicHeightInLumaSamples)))
}

// cropped trusts the library's cropped size only within the coded size:
// its uint32 arithmetic wraps around on hostile values.
func cropped(size int, coded int64) int64 {
	if size <= 0 || int64(size) > coded {
		return coded
	}
	return int64(size)
}

// checkSize refuses an empty picture and one above 8K.
func checkSize(w, h int64) (int, int, error) {
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide || w*h > maxPixels {
		return 0, 0, fmt.Errorf("%w: picture %dx%d (at most %dx%d)", publish.ErrBadStream, w, h, maxSide, maxSide)
	}
	return int(w), int(h), nil
}

func audioTrack(c codecs.Codec, mp3 []byte) (*media.Track, error) {
	switch c := c.(type) {
	case *codecs.MPEG4Audio:
		return aacTrack(c.Config)
	case *codecs.Opus:
		return opusTrack(c), nil
	case *codecs.G711:
		codec := media.CodecPCMA
		if c.MULaw {
			codec = media.CodecPCMU
		}
		return &media.Track{Codec: codec, ClockRate: g711Rate, SampleRate: g711Rate, Channels: max(c.ChannelCount, 1)}, nil
	case *codecs.AC3:
		if c.SampleRate <= 0 || c.ChannelCount <= 0 {
			return nil, fmt.Errorf("AC-3 track of %d Hz, %d channels", c.SampleRate, c.ChannelCount)
		}
		return &media.Track{Codec: media.CodecAC3, ClockRate: c.SampleRate, SampleRate: c.SampleRate,
			Channels: c.ChannelCount}, nil
	case *codecs.MPEG1Audio:
		return mp3Track(mp3)
	}
	return nil, fmt.Errorf("audio codec %s is not supported", codecName(c))
}

func aacTrack(cfg *mpeg4audio.AudioSpecificConfig) (*media.Track, error) {
	if cfg == nil || cfg.SampleRate <= 0 {
		return nil, fmt.Errorf("AAC track without a usable AudioSpecificConfig")
	}
	b, err := cfg.Marshal()
	if err != nil {
		return nil, fmt.Errorf("AAC AudioSpecificConfig: %w", err)
	}
	return &media.Track{Codec: media.CodecAAC, ClockRate: cfg.SampleRate, SampleRate: cfg.SampleRate,
		Channels: cfg.ChannelCount, Config: b}, nil
}

func opusTrack(c *codecs.Opus) *media.Track {
	t := &media.Track{Codec: media.CodecOpus, ClockRate: opusRate, SampleRate: opusRate, Channels: 2}
	if c.IDHeader != nil && c.IDHeader.ChannelCount > 0 {
		t.Channels = int(c.IDHeader.ChannelCount)
		t.Config, _ = c.IDHeader.Marshal() // OpusHead, as libav wants it; it cannot fail
	}
	return t
}

// mp3Track reads the sample rate and channels from the first frame.
func mp3Track(frame []byte) (*media.Track, error) {
	var h mpeg1audio.FrameHeader
	if err := h.Unmarshal(frame); err != nil || h.SampleRate <= 0 {
		return nil, fmt.Errorf("MPEG-1 audio track without a readable frame header (%v)", err)
	}
	if h.Layer != 3 {
		return nil, fmt.Errorf("MPEG-1 audio layer %d is not supported (MP3 only)", h.Layer)
	}
	ch := 2
	if h.ChannelMode == mpeg1audio.ChannelModeMono {
		ch = 1
	}
	return &media.Track{Codec: media.CodecMP3, ClockRate: h.SampleRate, SampleRate: h.SampleRate, Channels: ch}, nil
}

// codecName is a codec's name for messages: gortmplib's type name.
func codecName(c codecs.Codec) string {
	return strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", c), "*codecs."))
}

// annexB appends each NALU to buf behind a start code.
func annexB(buf []byte, nalus ...[]byte) []byte {
	for _, n := range nalus {
		if len(n) > 0 {
			buf = append(buf, 0, 0, 0, 1)
			buf = append(buf, n...)
		}
	}
	return buf
}

package hls

import (
	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/visiongate/visiongate/media"
)

// hlsAudio picks the sound HLS plays: the camera's AAC or Opus, else its
// transcoding to AAC.
func hlsAudio(info *media.StreamInfo) *media.AudioInfo {
	if a := info.Audio; a != nil && (a.Codec == media.CodecAAC || a.Codec == media.CodecOpus) {
		return a
	}
	if a := info.AudioAs(media.CodecAAC); a != nil {
		return a
	}
	return info.Audio
}

// audioTrack is the muxer's sound track: AAC, or Opus in fMP4. Other
// codecs are left out; the video plays on without them.
func audioTrack(a *media.AudioInfo, v gohlslib.MuxerVariant) (*gohlslib.Track, error) {
	switch {
	case a == nil:
		return nil, nil
	case a.Codec == media.CodecAAC:
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(a.Config); err != nil {
			return nil, err
		}
		return &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: conf}, ClockRate: conf.SampleRate}, nil
	case a.Codec == media.CodecOpus && v != gohlslib.MuxerVariantMPEGTS:
		return &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: a.Channels}, ClockRate: 48000}, nil
	}
	return nil, UnsupportedCodecError{Codec: a.Codec, Variant: variantName(v)}
}

// writeAudio hands an audio unit to the muxer on the video's timeline;
// sound from before the first video unit is dropped.
func (s *stream) writeAudio(au *media.AccessUnit) error {
	if s.audio == nil || !s.started || au.PTS < s.basePTS || !media.SameAudio(au.Audio, s.audioInfo) {
		return nil
	}
	pts := au.PTS - s.basePTS
	ntp := s.startNTP.Add(media.Duration(pts))
	apts := pts * int64(s.audio.ClockRate) / media.ClockRate
	var err error
	if au.Audio.Codec == media.CodecOpus {
		err = s.mux.WriteOpus(s.audio, ntp, apts, au.Frames)
	} else {
		err = s.mux.WriteMPEG4Audio(s.audio, ntp, apts, au.Frames)
	}
	if err != nil {
		return MuxerError{Err: err}
	}
	return nil
}

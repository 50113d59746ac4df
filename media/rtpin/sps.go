package rtpin

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/visiongate/visiongate/media"
)

// Picture is what a sequence parameter set says of the pictures.
type Picture struct {
	Width, Height int
	// FPS is from the VUI timing; 0 when the SPS does not say.
	FPS float64
}

// ParseSPS reads an H.264 or H.265 SPS (without start code); a
// *ParamError when it cannot.
func ParseSPS(codec media.Codec, sps []byte) (Picture, error) {
	if codec == media.CodecH265 {
		var s h265.SPS
		if err := s.Unmarshal(sps); err != nil {
			return Picture{}, &ParamError{Codec: codec, Err: err}
		}
		return Picture{Width: s.Width(), Height: s.Height(), FPS: s.FPS()}, nil
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return Picture{}, &ParamError{Codec: codec, Err: err}
	}
	return Picture{Width: s.Width(), Height: s.Height(), FPS: s.FPS()}, nil
}

// FindSPS returns the first SPS of a unit or of parameter sets in Annex
// B; nil without one.
func FindSPS(codec media.Codec, unit []byte) []byte {
	for _, n := range media.SplitAnnexB(unit, nil) {
		if paramIndex(codec, n) == 1 {
			return n
		}
	}
	return nil
}

// ParamSets returns the parameter sets (VPS, SPS, PPS) of a unit in Annex
// B, in Annex B: a track's Config when the SDP had none.
func ParamSets(codec media.Codec, unit []byte) []byte {
	var sets [][]byte
	for _, n := range media.SplitAnnexB(unit, nil) {
		if paramIndex(codec, n) >= 0 {
			sets = append(sets, n)
		}
	}
	return annexB(sets)
}

package pipeline

import (
	"bytes"

	"github.com/visiongate/visiongate/media"
)

// paramSets are the parameter sets seen in an access unit.
type paramSets struct{ vps, sps, pps []byte }

// scanNALUs reports whether an access unit starts a decodable picture and
// which parameter sets it carries.
func scanNALUs(codec media.Codec, nalus [][]byte) (idr bool, ps paramSets) {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		typ := media.NALUType(codec, n)
		if codec == media.CodecH265 {
			switch {
			case typ == media.H265NALVPS:
				ps.vps = n
			case typ == media.H265NALSPS:
				ps.sps = n
			case typ == media.H265NALPPS:
				ps.pps = n
			case typ >= 16 && typ <= 21: // IRAP pictures
				idr = true
			}
			continue
		}
		switch typ {
		case media.H264NALIDR:
			idr = true
		case media.H264NALSPS:
			ps.sps = n
		case media.H264NALPPS:
			ps.pps = n
		}
	}
	return idr, ps
}

// changes reports whether ps carries parameter sets that differ from info.
func (ps paramSets) changes(info *media.StreamInfo) bool {
	differ := func(have, cur []byte) bool { return have != nil && !bytes.Equal(have, cur) }
	return info == nil || differ(ps.sps, info.SPS) || differ(ps.pps, info.PPS) || differ(ps.vps, info.VPS)
}

// merge returns a new StreamInfo with ps applied over info's fields.
func (ps paramSets) merge(info media.StreamInfo) *media.StreamInfo {
	if ps.sps != nil {
		info.SPS = bytes.Clone(ps.sps)
	}
	if ps.pps != nil {
		info.PPS = bytes.Clone(ps.pps)
	}
	if ps.vps != nil {
		info.VPS = bytes.Clone(ps.vps)
	}
	return &info
}

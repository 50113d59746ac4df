package pipeline

import (
	"bytes"

	"github.com/visiongate/visiongate/gateway/media"
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
		if codec == media.CodecH265 {
			switch typ := (n[0] >> 1) & 0x3f; {
			case typ == 32:
				ps.vps = n
			case typ == 33:
				ps.sps = n
			case typ == 34:
				ps.pps = n
			case typ >= 16 && typ <= 21:
				idr = true
			}
			continue
		}
		switch n[0] & 0x1f {
		case 5:
			idr = true
		case 7:
			ps.sps = n
		case 8:
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

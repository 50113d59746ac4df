package hls

import "github.com/visiongate/visiongate/gateway/media"

// NAL unit types used here.
const (
	h264AUD = 9
	h264SPS = 7
	h264PPS = 8
	h265VPS = 32
	h265SPS = 33
	h265PPS = 34
	h265AUD = 35
)

// withParams returns au's NALUs, with the Info's parameter sets put in front
// of an IDR that lacks them, and without empty units (after the delimiter, which must stay first):
// gohlslib's DTS extractor needs an SPS in the first unit it gets, and a
// player joining at any segment needs them in band. dst is scratch space.
func withParams(info *media.StreamInfo, au *media.AccessUnit, dst [][]byte) [][]byte {
	if !au.IDR {
		return appendNonEmpty(dst, au.NALUs)
	}
	h265 := info.Codec == media.CodecH265
	var have [3]bool // VPS, SPS, PPS
	at := 0
	for i, n := range au.NALUs {
		switch typ := naluType(h265, n); {
		case typ < 0:
		case i == 0 && (typ == h264AUD && !h265 || typ == h265AUD && h265):
			at = 1
		case h265 && typ == h265VPS:
			have[0] = true
		case h265 && typ == h265SPS || !h265 && typ == h264SPS:
			have[1] = true
		case h265 && typ == h265PPS || !h265 && typ == h264PPS:
			have[2] = true
		}
	}
	dst = appendNonEmpty(dst, au.NALUs[:at])
	for i, ps := range [3][]byte{info.VPS, info.SPS, info.PPS} {
		if !have[i] && len(ps) > 0 && (i > 0 || h265) {
			dst = append(dst, ps)
		}
	}
	return appendNonEmpty(dst, au.NALUs[at:])
}

// appendNonEmpty skips empty units, which gohlslib would index out of range.
func appendNonEmpty(dst, nalus [][]byte) [][]byte {
	for _, n := range nalus {
		if len(n) > 0 {
			dst = append(dst, n)
		}
	}
	return dst
}

// naluType returns the NAL unit type, or -1 for an empty unit.
func naluType(h265 bool, n []byte) int {
	switch {
	case len(n) == 0:
		return -1
	case h265:
		return int(n[0]>>1) & 0x3f
	}
	return int(n[0]) & 0x1f
}

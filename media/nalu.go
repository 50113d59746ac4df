package media

// NAL unit types visiongate looks at.
const (
	H264NALIDR = 5
	H264NALSPS = 7
	H264NALPPS = 8
	H264NALAUD = 9
	H265NALVPS = 32
	H265NALSPS = 33
	H265NALPPS = 34
	H265NALAUD = 35
)

// NALUType returns the type of a NAL unit of codec, or -1 for an empty one.
func NALUType(codec Codec, n []byte) int {
	switch {
	case len(n) == 0:
		return -1
	case codec == CodecH265:
		return int(n[0]>>1) & 0x3f
	}
	return int(n[0]) & 0x1f
}

// WithParams returns au's NAL units, without empty ones, and with info's
// parameter sets put in front of an IDR that lacks them (after the access
// unit delimiter, which must stay first): a reader that joins at any
// keyframe, or missed the session description, can start decoding there.
// dst is scratch space; the result may alias it.
func WithParams(info *StreamInfo, au *AccessUnit, dst [][]byte) [][]byte {
	dst = dst[:0]
	if !au.IDR {
		return appendNonEmpty(dst, au.NALUs)
	}
	h265 := info.Codec == CodecH265
	var have [3]bool // VPS, SPS, PPS
	at := 0
	for i, n := range au.NALUs {
		switch typ := NALUType(info.Codec, n); {
		case typ < 0:
		case i == 0 && (typ == H264NALAUD && !h265 || typ == H265NALAUD && h265):
			at = 1
		case h265 && typ == H265NALVPS:
			have[0] = true
		case h265 && typ == H265NALSPS || !h265 && typ == H264NALSPS:
			have[1] = true
		case h265 && typ == H265NALPPS || !h265 && typ == H264NALPPS:
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

func appendNonEmpty(dst, nalus [][]byte) [][]byte {
	for _, n := range nalus {
		if len(n) > 0 {
			dst = append(dst, n)
		}
	}
	return dst
}

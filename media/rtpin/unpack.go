package rtpin

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/media"
)

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
func (v *videoUnpacker) paramIndex(n []byte) int { return paramIndex(v.codec, n) }

// paramIndex places a NAL unit of codec among the VPS, SPS and PPS, or -1
// when it is none of them.
func paramIndex(codec media.Codec, n []byte) int {
	if len(n) == 0 {
		return -1
	}
	switch typ := media.NALUType(codec, n); {
	case codec == media.CodecH265 && typ == media.H265NALVPS:
		return 0
	case codec == media.CodecH265 && typ == media.H265NALSPS, codec == media.CodecH264 && typ == media.H264NALSPS:
		return 1
	case codec == media.CodecH265 && typ == media.H265NALPPS, codec == media.CodecH264 && typ == media.H264NALPPS:
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

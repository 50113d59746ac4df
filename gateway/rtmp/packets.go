package rtmp

import (
	"bytes"
	"time"

	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/visiongate/visiongate/media"
)

// naluKind is what a NALU means to the conversion.
type naluKind int

const (
	naluSlice naluKind = iota // any other NALU: kept as it is
	naluKey                   // a slice of a random access picture
	naluVPS                   // parameter sets and AUD: in params order and H.265 type order
	naluSPS
	naluPPS
	naluAUD // access unit delimiter: dropped, it would precede the params
)

// videoConv turns gortmplib's H.264/H.265 access units into Annex-B
// packets on the 90 kHz clock. Keyframes get the parameter sets in front
// when they lack them: FLV carries them out of band.
type videoConv struct {
	h265   bool
	params [3][]byte // VPS (H.265 only), SPS, PPS
}

// newVideoConv starts from the parameter sets of the sequence header.
func newVideoConv(c codecs.Codec) *videoConv {
	switch c := c.(type) {
	case *codecs.H264:
		return &videoConv{params: [3][]byte{nil, c.SPS, c.PPS}}
	case *codecs.H265:
		return &videoConv{h265: true, params: [3][]byte{c.VPS, c.SPS, c.PPS}}
	}
	return nil
}

func (v *videoConv) kind(n []byte) naluKind {
	if v.h265 {
		return h265Kind((n[0] >> 1) & 0x3f)
	}
	return h264Kind(n[0] & 0x1f)
}

func h264Kind(typ byte) naluKind {
	switch typ {
	case 5:
		return naluKey
	case 7:
		return naluSPS
	case 8:
		return naluPPS
	case 9:
		return naluAUD
	}
	return naluSlice
}

func h265Kind(typ byte) naluKind {
	switch {
	case typ >= 16 && typ <= 21: // BLA, IDR, CRA
		return naluKey
	case typ >= 32 && typ <= 35: // VPS, SPS, PPS, AUD
		return naluVPS + naluKind(typ-32)
	}
	return naluSlice
}

// packet converts one access unit; ok is false for one that only carries
// parameter sets (a sequence header), which are kept for the keyframes.
// A new SPS above 8K fails.
func (v *videoConv) packet(pts, dts time.Duration, au [][]byte) (pk media.Packet, ok bool, err error) {
	inBand, key, ok, err := v.scan(au)
	if err != nil || !ok {
		return pk, false, err
	}
	size := v.paramSize()
	for _, n := range au {
		size += 4 + len(n)
	}
	buf := make([]byte, 0, size)
	if key && inBand != v.allParams() {
		buf = annexB(buf, v.params[:]...)
	}
	for _, n := range au {
		if len(n) > 0 && v.kind(n) != naluAUD {
			buf = annexB(buf, n)
		}
	}
	pk = media.Packet{PTS: scale(pts, media.ClockRate), DTS: scale(dts, media.ClockRate), Key: key, Data: buf}
	return pk, true, nil
}

// scan keeps the parameter sets of au, and tells which it carries
// (a bit each), whether it is a keyframe, and whether it has slices.
func (v *videoConv) scan(au [][]byte) (inBand uint8, key, slices bool, err error) {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch k := v.kind(n); k {
		case naluVPS, naluSPS, naluPPS:
			if err := v.setParam(k, n); err != nil {
				return 0, false, false, err
			}
			inBand |= 1 << (k - naluVPS)
		case naluKey:
			key, slices = true, true
		case naluSlice:
			slices = true
		}
	}
	return inBand, key, slices, nil
}

// setParam keeps a parameter set; a changed SPS must announce a picture
// the broker would have taken.
func (v *videoConv) setParam(k naluKind, n []byte) error {
	i := int(k - naluVPS)
	if bytes.Equal(v.params[i], n) {
		return nil
	}
	if k == naluSPS {
		size := h264Size
		if v.h265 {
			size = h265Size
		}
		if _, _, err := size(n); err != nil {
			return err
		}
	}
	v.params[i] = bytes.Clone(n)
	return nil
}

// allParams is the inBand mask of a unit that carries every parameter set.
func (v *videoConv) allParams() uint8 {
	if v.h265 {
		return 0b111
	}
	return 0b110
}

func (v *videoConv) paramSize() int {
	n := 0
	for _, p := range v.params {
		n += 4 + len(p)
	}
	return n
}

// audioConv stamps audio frames with the track's sample clock.
type audioConv struct{ rate int }

func (a audioConv) packet(pts time.Duration, frame []byte) (media.Packet, bool) {
	if len(frame) == 0 {
		return media.Packet{}, false
	}
	ts := scale(pts, a.rate)
	return media.Packet{Audio: true, PTS: ts, DTS: ts, Key: true, Data: bytes.Clone(frame)}, true
}

// scale converts a duration to ticks of a clock without overflowing.
func scale(d time.Duration, rate int) int64 {
	sec, rest := d/time.Second, d%time.Second
	return int64(sec)*int64(rate) + int64(rest)*int64(rate)/int64(time.Second)
}

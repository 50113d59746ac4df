package media

import (
	"bytes"
	"slices"
	"testing"
)

func TestWithParams(t *testing.T) {
	h264 := &StreamInfo{Codec: CodecH264, SPS: []byte{0x67, 1}, PPS: []byte{0x68, 2}}
	h265 := &StreamInfo{Codec: CodecH265, VPS: []byte{0x40, 1}, SPS: []byte{0x42, 1}, PPS: []byte{0x44, 1}}
	aud, idr, p := []byte{0x09, 0xf0}, []byte{0x65, 3}, []byte{0x41, 4}
	hAUD, hIDR := []byte{35 << 1, 1}, []byte{19 << 1, 1}
	cases := []struct {
		name string
		info *StreamInfo
		au   AccessUnit
		want [][]byte
	}{
		{"h264 IDR", h264, AccessUnit{IDR: true, NALUs: [][]byte{idr}}, [][]byte{h264.SPS, h264.PPS, idr}},
		{"h264 AUD stays first", h264, AccessUnit{IDR: true, NALUs: [][]byte{aud, {}, idr}}, [][]byte{aud, h264.SPS, h264.PPS, idr}},
		{"h264 has its params", h264, AccessUnit{IDR: true, NALUs: [][]byte{h264.SPS, h264.PPS, idr}}, [][]byte{h264.SPS, h264.PPS, idr}},
		{"h264 non-IDR", h264, AccessUnit{NALUs: [][]byte{p, {}}}, [][]byte{p}},
		{"h265 IDR", h265, AccessUnit{IDR: true, NALUs: [][]byte{hAUD, hIDR}}, [][]byte{hAUD, h265.VPS, h265.SPS, h265.PPS, hIDR}},
		{"h265 has its params", h265, AccessUnit{IDR: true, NALUs: [][]byte{h265.VPS, h265.SPS, h265.PPS, hIDR}},
			[][]byte{h265.VPS, h265.SPS, h265.PPS, hIDR}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := WithParams(c.info, &c.au, nil); !slices.EqualFunc(got, c.want, bytes.Equal) {
				t.Errorf("got %x, want %x", got, c.want)
			}
		})
	}
}

// The per-frame helpers allocate nothing once their scratch space has
// grown to the stream's unit count.
func TestPerFrameHelpersDoNotAllocate(t *testing.T) {
	info := &StreamInfo{Codec: CodecH264, SPS: []byte{0x67, 1}, PPS: []byte{0x68, 2}}
	data := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 1, 2, 3, 0, 0, 1, 0x65, 4, 5}
	au := &AccessUnit{IDR: true, NALUs: SplitAnnexB(data, nil)}
	var nalus, out [][]byte
	allocs := testing.AllocsPerRun(100, func() {
		nalus = SplitAnnexB(data, nalus)
		out = WithParams(info, au, out)
	})
	if allocs != 0 || len(out) != 5 {
		t.Fatalf("%v allocations per frame, %d units", allocs, len(out))
	}
}

package rtsp

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/media"
)

// H.265 parameter sets from gortsplib's format tests.
var (
	h265VPS  = []byte{0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x96, 0xac, 0x09}
	h265SPS  = []byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x96, 0xa0, 0x05, 0xa2, 0x01, 0xe1, 0x63, 0x6b, 0x92, 0x4c, 0x9a, 0xe5, 0x99}
	h265PPS  = []byte{0x44, 0x01, 0xe0, 0x76, 0xb0, 0x26, 0x40}
	h265Info = &media.StreamInfo{Codec: media.CodecH265, Width: 1920, Height: 1080, VPS: h265VPS, SPS: h265SPS, PPS: h265PPS}
)

func isH265(f format.Format) bool {
	_, ok := f.(*format.H265)
	return ok
}

func TestNewFormat(t *testing.T) {
	if f, _, err := newFormat(h265Info); err != nil || !isH265(f) {
		t.Errorf("H265: %v, %v", f, err)
	}
	_, _, err := newFormat(&media.StreamInfo{Codec: "vp9"})
	var uc UnsupportedCodecError
	if !errors.As(err, &uc) || uc.Codec != "vp9" {
		t.Errorf("vp9: %v, want UnsupportedCodecError", err)
	}
}

func TestPlayH265(t *testing.T) {
	s := startServer(t, nil)
	h := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h})
	idr := &media.AccessUnit{Info: h265Info, IDR: true, NALUs: [][]byte{append([]byte{19 << 1, 1}, make([]byte, 4000)...)}}
	h.Publish(idr)

	c := newClient(t, s, gortsplib.ProtocolTCP)
	desc, _, err := c.Describe(pathURL(t, s, "cam"))
	if err != nil {
		t.Fatal(err)
	}
	var forma *format.H265
	medi := desc.FindFormat(&forma)
	if medi == nil || !bytes.Equal(forma.VPS, h265VPS) || !bytes.Equal(forma.SPS, h265SPS) {
		t.Fatalf("SDP lacks H265 parameters: %+v", desc)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var units atomic.Int32
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if _, err := dec.Decode(pkt); err == nil {
			units.Add(1)
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		au := *idr
		au.PTS = int64(i) * 3600
		h.Publish(&au)
	}
	waitFor(t, "H265 units", func() bool { return units.Load() >= 8 })
}

func TestUnsupportedCodecIsSkipped(t *testing.T) {
	s := startServer(t, nil)
	h := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h})
	h.Publish(&media.AccessUnit{Info: &media.StreamInfo{Codec: "vp9"}, IDR: true, NALUs: [][]byte{{1}}})
	h.Publish(newSynth().next()) // an H.264 IDR afterwards works
	waitFor(t, "H.264 stream", func() bool { return s.lookup("cam").currentStream() != nil })
}

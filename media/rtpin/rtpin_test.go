package rtpin

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/ac3"

	"github.com/visiongate/visiongate/media"
)

// AC-3 (which ffmpeg cannot send over RTP) comes out frame by frame, a
// frame's samples apart.
func TestAC3(t *testing.T) {
	frames := encodeAC3(t)
	forma := &format.AC3{PayloadTyp: 97, SampleRate: 48000, ChannelCount: 1}
	tr, err := ForFormat(forma)
	if err != nil || tr == nil || tr.Info.Codec != media.CodecAC3 || tr.Info.ClockRate != 48000 {
		t.Fatalf("track %+v, %v", tr, err)
	}
	enc, err := forma.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := enc.Encode(frames)
	if err != nil {
		t.Fatal(err)
	}
	var got []media.Packet
	for _, p := range pkts {
		out, err := tr.Unpack(p, 1000+int64(p.Timestamp-pkts[0].Timestamp))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
	}
	if len(got) != len(frames) {
		t.Fatalf("%d frames out of %d", len(got), len(frames))
	}
	for i, p := range got {
		if !p.Audio || !bytes.Equal(p.Data, frames[i]) || p.PTS != 1000+int64(i)*ac3.SamplesPerFrame {
			t.Errorf("frame %d: audio %v, PTS %d, %d bytes", i, p.Audio, p.PTS, len(p.Data))
		}
	}
}

// encodeAC3 makes a few AC-3 frames with the ffmpeg CLI.
func encodeAC3(t *testing.T) [][]byte {
	out := filepath.Join(t.TempDir(), "a.ac3")
	cmd := exec.CommandContext(t.Context(), "ffmpeg", "-v", "error", "-f", "lavfi", "-i",
		"sine=frequency=440:sample_rate=48000", "-t", "0.2", "-ac", "1", "-c:a", "ac3", "-f", "ac3", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for len(data) > 0 {
		var si ac3.SyncInfo
		if err := si.Unmarshal(data); err != nil || si.FrameSize() > len(data) {
			t.Fatalf("AC-3 frame: %v", err)
		}
		frames = append(frames, data[:si.FrameSize()])
		data = data[si.FrameSize():]
	}
	if len(frames) < 3 {
		t.Fatalf("%d frames", len(frames))
	}
	return frames
}

// hugeSPS is an SPS (baseline, level 5.1, 1024x1024 macroblocks) claiming
// 16384x16384 pixels, as internal/testcam's hostile camera sends.
var hugeSPS = []byte{0x67, 0x42, 0xc0, 0x33, 0xda, 0x00, 0x10, 0x00, 0x00, 0x80, 0x19}

// The size of an announced SPS is read; what to do with it is the
// caller's business. Garbage is a ParamError.
func TestAnnouncedSize(t *testing.T) {
	tr, err := ForFormat(&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: hugeSPS, PPS: []byte{0x68, 0xce, 0x3c, 0x80}})
	if err != nil || tr.Info.Width != 16384 || tr.Info.Height != 16384 {
		t.Fatalf("track %+v, %v; want 16384x16384", tr, err)
	}
	if got := FindSPS(media.CodecH264, tr.Info.Config); !bytes.Equal(got, hugeSPS) {
		t.Fatalf("FindSPS = %x", got)
	}
	_, err = ForFormat(&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: []byte{0x67, 0xff}, PPS: []byte{0x68}})
	var pe *ParamError
	if !errors.As(err, &pe) || pe.Codec != media.CodecH264 {
		t.Fatalf("err = %v, want a ParamError", err)
	}
}

package transcode

import (
	"errors"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/internal/testmedia"
)

// FuzzDecodeCorruptH264 feeds a real clip's packets to the decoder with
// one packet corrupted by the fuzzer's bytes (and cut to their length):
// broken NAL units and absurd headers must come back as errors, never as
// a crash.
func FuzzDecodeCorruptH264(f *testing.F) {
	path := testmedia.Make(f, testmedia.Clip{Width: 64, Height: 48, FPS: 10, Seconds: 1})
	in, err := OpenInput(f.Context(), InputOptions{URL: path, Whitelist: "file"})
	if err != nil {
		f.Fatal(err)
	}
	defer in.Close()
	var packets [][]byte
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	for in.ReadPacket(f.Context(), pkt) == nil {
		packets = append(packets, append([]byte(nil), pkt.Data()...))
		pkt.Unref()
	}
	f.Add(uint8(0), []byte{0xff, 0, 0, 1, 0x67})
	f.Add(uint8(1), []byte{0, 0, 1, 0x65, 0x88, 0x84})
	f.Add(uint8(3), make([]byte, 64))
	f.Add(uint8(5), []byte{0x00, 0x00, 0x00, 0x01, 0x67, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, which uint8, noise []byte) {
		dec, err := NewDecoder(in.Info().Params, "none")
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		target := int(which) % len(packets)
		for i, data := range packets {
			if i == target {
				data = corrupt(data, noise)
			}
			decodeBytes(t, dec, data)
		}
	})
}

// corrupt XORs noise over data and cuts data to noise's length when the
// noise is shorter, so both bit flips and truncation are explored.
func corrupt(data, noise []byte) []byte {
	out := append([]byte(nil), data...)
	for i, b := range noise {
		if i < len(out) {
			out[i] ^= b
		}
	}
	if len(noise) > 0 && len(noise) < len(out) {
		out = out[:len(noise)]
	}
	return out
}

func decodeBytes(t *testing.T, dec *Decoder, data []byte) {
	if len(data) == 0 {
		return
	}
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	if err := pkt.FromData(data); err != nil {
		t.Fatal(err)
	}
	if err := dec.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
		return // rejected: what a corrupt packet should cost
	}
	frame := astiav.AllocFrame()
	defer frame.Free()
	for dec.ReceiveFrame(frame) == nil {
		if frame.Width() <= 0 || frame.Height() <= 0 {
			t.Fatalf("decoded a %dx%d frame", frame.Width(), frame.Height())
		}
		frame.Unref()
	}
}

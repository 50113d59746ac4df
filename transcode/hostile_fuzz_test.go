package transcode

import (
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/visiongate/visiongate/internal/testcam"
)

// FuzzHostileCamera connects to an RTSP camera that misbehaves (garbage
// SDP, bad or huge parameter sets, random RTP, warped timestamps,
// truncated frames, junk between frames; see testcam.HostileModes) in a
// way the fuzzer's seed decides, then demuxes and decodes what it sends.
// Whatever comes, opening and reading end in packets or errors within the
// timeouts, never in a crash or a hang.
func FuzzHostileCamera(f *testing.F) {
	for i := range testcam.HostileModes {
		f.Add(uint8(i), uint64(1))
	}
	f.Fuzz(func(t *testing.T, mode uint8, seed uint64) {
		cam := testcam.StartHostile(t, testcam.HostileOptions{
			Mode: testcam.HostileModes[int(mode)%len(testcam.HostileModes)], Seed: seed, Interval: time.Millisecond})
		in, err := OpenInput(t.Context(), InputOptions{URL: cam.URL, Whitelist: "rtsp,tcp", Transport: "tcp",
			ConnectTimeout: 2 * time.Second, ReadTimeout: 500 * time.Millisecond})
		if err != nil {
			return // refused: what a hostile camera should cost
		}
		defer in.Close()
		readAndDecode(t, in, 20)
	})
}

// readAndDecode reads up to n packets of in and decodes them.
func readAndDecode(t *testing.T, in *Input, n int) {
	dec, err := NewDecoder(in.Info().Params, "none")
	if err != nil {
		return
	}
	defer dec.Close()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	for range n {
		if in.ReadPacket(t.Context(), pkt) != nil {
			return
		}
		decodeBytes(t, dec, pkt.Data())
		pkt.Unref()
	}
}

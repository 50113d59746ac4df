package rtspin

import (
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testcam"
)

// FuzzHostileCamera plays an RTSP camera that misbehaves (garbage SDP,
// bad or huge parameter sets, random RTP, warped timestamps, truncated
// frames, junk between frames; see testcam.HostileModes) in a way the
// fuzzer's seed decides. Whatever comes, opening and reading end in
// packets or errors within the timeouts, never in a crash or a hang.
func FuzzHostileCamera(f *testing.F) {
	for i := range testcam.HostileModes {
		f.Add(uint8(i), uint64(1))
	}
	f.Fuzz(func(t *testing.T, mode uint8, seed uint64) {
		cam := testcam.StartHostile(t, testcam.HostileOptions{
			Mode: testcam.HostileModes[int(mode)%len(testcam.HostileModes)], Seed: seed, Interval: time.Millisecond})
		c, err := Open(t.Context(), Options{URL: cam.URL, Transport: "tcp",
			ConnectTimeout: 2 * time.Second, ReadTimeout: 500 * time.Millisecond})
		if err != nil {
			return // refused: what a hostile camera should cost
		}
		defer c.Close()
		for range 20 {
			if _, err := c.ReadPacket(t.Context()); err != nil {
				return
			}
		}
	})
}

package batchconn

import (
	"encoding/binary"
	"testing"
	"time"
)

// encodeSizes packs write sizes as the fuzz script: little-endian uint16s.
func encodeSizes(sizes []int) []byte {
	b := make([]byte, 0, 2*len(sizes))
	for _, n := range sizes {
		b = binary.LittleEndian.AppendUint16(b, uint16(min(n, 0xffff)))
	}
	return b
}

// FuzzTransfer: any sequence of write sizes under any buffer cap reaches
// the peer as exactly their concatenation. Seeded from TestTransfer.
func FuzzTransfer(f *testing.F) {
	for _, tc := range transferCases {
		sizes := tc.sizes[:min(len(tc.sizes), 300)]
		f.Add(encodeSizes(sizes), uint32(tc.o.MaxPending), tc.o.Delay < 0)
	}
	f.Fuzz(func(t *testing.T, script []byte, maxPending uint32, noDelay bool) {
		var sizes []int
		for i := 0; i+1 < len(script) && len(sizes) < 300; i += 2 {
			sizes = append(sizes, int(binary.LittleEndian.Uint16(script[i:])))
		}
		// A cap under 4 KiB only makes runs slow: one real write per few bytes.
		o := Options{MaxPending: 4096 + int(maxPending%(8<<20)), Delay: 100 * time.Microsecond}
		if noDelay {
			o.Delay = -1
		}
		transfer(t, o, sizes)
	})
}

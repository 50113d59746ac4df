package srt

import (
	"errors"
	"testing"
)

var tsCases = []struct {
	name string
	b    []byte
	ok   bool
}{
	{"one packet", tsPackets(1), true},
	{"seven packets", tsPackets(7), true},
	{"empty", nil, false},
	{"short", tsPackets(1)[:187], false},
	{"one byte over", append(tsPackets(1), tsSync), false},
	{"bad first sync", append([]byte{0}, tsPackets(7)[1:]...), false},
	{"bad last sync", func() []byte { b := tsPackets(7); b[6*tsPacketSize] = 0x46; return b }(), false},
	{"text", []byte("GET / HTTP/1.1\r\n"), false},
}

func TestCheckTS(t *testing.T) {
	for _, tc := range tsCases {
		err := checkTS(tc.b)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrNotMPEGTS) {
			t.Errorf("%s: checkTS = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// FuzzCheckTS compares checkTS with the plain rule, byte by byte.
func FuzzCheckTS(f *testing.F) {
	for _, tc := range tsCases {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := len(b) > 0 && len(b)%tsPacketSize == 0
		for i := range b {
			if i%tsPacketSize == 0 && b[i] != tsSync {
				want = false
			}
		}
		err := checkTS(b)
		if (err == nil) != want || err != nil && !errors.Is(err, ErrNotMPEGTS) {
			t.Fatalf("checkTS(%d bytes) = %v, want ok %v", len(b), err, want)
		}
	})
}

package media

import (
	"bytes"
	"testing"
)

var annexBCases = []struct {
	name string
	in   []byte
	want [][]byte
}{
	{"empty", nil, nil},
	{"three-byte codes", []byte{0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3}, [][]byte{{0x67, 1, 2}, {0x68, 3}}},
	{"four-byte codes", []byte{0, 0, 0, 1, 0x65, 9, 0, 0, 0, 1, 0x41, 8}, [][]byte{{0x65, 9}, {0x41, 8}}},
	{"no start code", []byte{0x65, 1, 2}, [][]byte{{0x65, 1, 2}}},
	{"empty units skipped", []byte{0, 0, 1, 0, 0, 1, 0x09, 0xf0}, [][]byte{{0x09, 0xf0}}},
	{"trailing zeros trimmed", []byte{0, 0, 1, 0x65, 7, 0, 0}, [][]byte{{0x65, 7}}},
}

func TestSplitAnnexB(t *testing.T) {
	for _, c := range annexBCases {
		t.Run(c.name, func(t *testing.T) {
			got := SplitAnnexB(c.in, nil)
			if len(got) != len(c.want) {
				t.Fatalf("got %d units %x, want %d", len(got), got, len(c.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], c.want[i]) {
					t.Errorf("unit %d = %x, want %x", i, got[i], c.want[i])
				}
			}
		})
	}
}

func FuzzSplitAnnexB(f *testing.F) {
	for _, c := range annexBCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		for _, n := range SplitAnnexB(b, nil) {
			if len(n) == 0 {
				t.Fatal("empty unit")
			}
			if bytes.Contains(n, []byte{0, 0, 1}) {
				t.Fatalf("unit %x contains a start code", n)
			}
			total += len(n)
		}
		if total > len(b) {
			t.Fatalf("units hold %d bytes of %d", total, len(b))
		}
	})
}

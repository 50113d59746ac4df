package rtmp

import (
	"bytes"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/visiongate/visiongate/gateway/publish"
)

var urlCases = []struct {
	url, name, user, pass string
	ok                    bool
}{
	{"rtmp://h/cam1", "cam1", "", "", true},
	{"rtmp://h:1935/cam1/", "cam1", "", "", true},
	{"rtmp://h/live/cam1", "cam1", "", "", true},
	{"rtmp://h/live", "live", "", "", true},
	{"rtmp://h/cam1?user=alice&pass=s3cret", "cam1", "alice", "s3cret", true},
	{"rtmp://h/live/cam1?pass=a+b%26c&user=%41", "cam1", "A", "a+b&c", true},
	{"rtmp://h/cam1?user=u&pass=%zz", "cam1", "u", "%zz", true},
	{"rtmp://h/", "", "", "", false},
	{"rtmp://h/app/cam1", "", "", "", false},
	{"rtmp://h/live/a/b", "", "", "", false},
	{"rtmp://h/../cam1", "", "", "", false},
	{"rtmp://h/cam%2F1", "", "", "", false},
	{"rtmp://h/caméra", "", "", "", false},
}

func TestParseStreamURL(t *testing.T) {
	for _, tc := range urlCases {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		name, user, pass, err := parseStreamURL(u)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrBadPath) {
			t.Errorf("%s: error %v", tc.url, err)
			continue
		}
		if name != tc.name || user != tc.user || pass != tc.pass {
			t.Errorf("%s: %q %q %q, want %q %q %q", tc.url, name, user, pass, tc.name, tc.user, tc.pass)
		}
	}
}

func TestVideoTrackSize(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sps        []byte
		w, h       int
		refusedErr bool
	}{
		{"640x360 cropped", testSPS, 640, 360, false},
		{"1920x1080", makeSPS(120, 68, 4), 1920, 1080, false},
		{"8K", makeSPS(512, 270, 0), 8192, 4320, false},
		{"16K", makeSPS(1024, 1024, 0), 0, 0, true},
		{"wider than 8K", makeSPS(513, 10, 0), 0, 0, true},
		{"width wraps to 0 in uint32", makeSPS(1<<28, 23, 0), 0, 0, true},
		{"crop past the picture", makeSPS(40, 23, 1000), 640, 368, false},
		{"not an SPS", testPPS, 0, 0, true},
		{"empty", nil, 0, 0, true},
	} {
		v, err := videoTrack(&codecs.H264{SPS: tc.sps, PPS: testPPS})
		if tc.refusedErr {
			if !errors.Is(err, publish.ErrBadStream) {
				t.Errorf("%s: %+v, %v; want ErrBadStream", tc.name, v, err)
			}
			continue
		}
		if err != nil || v.Width != tc.w || v.Height != tc.h {
			t.Errorf("%s: %+v, %v; want %dx%d", tc.name, v, err, tc.w, tc.h)
		}
	}
}

func TestVideoConv(t *testing.T) {
	aud, sei := []byte{0x09, 0xf0}, []byte{0x06, 0x05, 0x01}
	sps2 := makeSPS(80, 45, 0)
	for _, tc := range []struct {
		name string
		au   [][]byte
		want []byte // nil: no packet
		key  bool
	}{
		{"sequence header", [][]byte{testSPS, testPPS}, nil, false},
		{"delimiter alone", [][]byte{aud, {}}, nil, false},
		{"IDR gets the parameter sets", [][]byte{testIDR}, annexB(nil, testSPS, testPPS, testIDR), true},
		{"delimiter dropped", [][]byte{aud, sei, testIDR}, annexB(nil, testSPS, testPPS, sei, testIDR), true},
		{"in band sets kept once", [][]byte{testSPS, testPPS, testIDR}, annexB(nil, testSPS, testPPS, testIDR), true},
		{"slice", [][]byte{testSlice, {}}, annexB(nil, testSlice), false},
		{"new SPS kept", [][]byte{sps2, testPPS, testIDR}, annexB(nil, sps2, testPPS, testIDR), true},
	} {
		v := newVideoConv(&codecs.H264{SPS: testSPS, PPS: testPPS})
		if tc.name == "new SPS kept" {
			if _, _, err := v.packet(0, 0, tc.au); err != nil {
				t.Fatal(err)
			}
			tc.au = [][]byte{testIDR} // the next keyframe gets the new SPS
		}
		pk, ok, err := v.packet(time.Second, time.Second, tc.au)
		if err != nil || ok != (tc.want != nil) || !bytes.Equal(pk.Data, tc.want) || pk.Key != tc.key {
			t.Errorf("%s: %+v %v %v", tc.name, pk, ok, err)
			continue
		}
		if ok && (pk.PTS != 90000 || pk.DTS != 90000) {
			t.Errorf("%s: timestamps %d %d", tc.name, pk.PTS, pk.DTS)
		}
	}
}

func TestVideoConvH265(t *testing.T) {
	v := newVideoConv(&codecs.H265{VPS: testH265VPS, SPS: testH265SPS, PPS: testH265PPS})
	aud, cra := []byte{0x46, 0x01, 0x10}, []byte{0x2a, 0x01, 0xaf} // types 35 and 21
	pk, ok, err := v.packet(0, 0, [][]byte{aud, cra})
	if err != nil || !ok || !pk.Key || !bytes.Equal(pk.Data, annexB(nil, testH265VPS, testH265SPS, testH265PPS, cra)) {
		t.Fatalf("%+v %v %v", pk, ok, err)
	}
	if _, _, err := v.packet(0, 0, [][]byte{{0x42, 0x01}}); !errors.Is(err, publish.ErrBadStream) {
		t.Fatalf("a broken in-band SPS: %v", err)
	}
}

func TestScale(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		rate int
		want int64
	}{
		{33 * time.Millisecond, 90000, 2970},
		{time.Second, 44100, 44100},
		{-40 * time.Millisecond, 90000, -3600},
		{(1<<32 - 1) * time.Millisecond, 90000, (1<<32 - 1) * 90},
		{(1<<32 - 1) * time.Millisecond, 48000, (1<<32 - 1) * 48},
	} {
		if got := scale(tc.d, tc.rate); got != tc.want {
			t.Errorf("scale(%v, %d) = %d, want %d", tc.d, tc.rate, got, tc.want)
		}
	}
}

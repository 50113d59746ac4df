package rtmp

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/visiongate/visiongate/gateway/config"
)

// FuzzRTMPStreamURL: any publish URL gives a valid source name or
// ErrBadPath.
func FuzzRTMPStreamURL(f *testing.F) {
	for _, tc := range urlCases {
		f.Add(tc.url)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		name, _, _, err := parseStreamURL(u)
		if err == nil && !config.ValidName(name) {
			t.Fatalf("%q gave the name %q", raw, name)
		}
	})
}

// FuzzRTMPVideo: whatever parameter sets and access units a publisher
// sends, a track is within 8K and a packet is Annex-B, its keyframes with
// an SPS.
func FuzzRTMPVideo(f *testing.F) {
	avcc := func(nalus ...[]byte) []byte {
		b, _ := h264.AVCC(nalus).Marshal()
		return b
	}
	f.Add(false, testSPS, testPPS, avcc(testIDR))
	f.Add(false, testSPS, testPPS, avcc(testSlice))
	f.Add(false, makeSPS(1024, 1024, 0), testPPS, avcc(testIDR))
	f.Add(false, testSPS, testPPS, avcc(makeSPS(1<<28, 2, 0), testIDR))
	f.Add(true, testH265SPS, testH265PPS, avcc(testH265IDR))
	f.Add(true, testH265SPS, testH265PPS, avcc([]byte{0x42, 0x01}, testH265IDR))
	f.Fuzz(func(t *testing.T, hevc bool, sps, pps, payload []byte) {
		var c codecs.Codec = &codecs.H264{SPS: sps, PPS: pps}
		if hevc {
			c = &codecs.H265{VPS: testH265VPS, SPS: sps, PPS: pps}
		}
		tr, err := videoTrack(c)
		if err != nil {
			return
		}
		if tr.Width <= 0 || tr.Height <= 0 || tr.Width > maxSide || tr.Height > maxSide {
			t.Fatalf("track %dx%d", tr.Width, tr.Height)
		}
		var au h264.AVCC
		if au.Unmarshal(payload) != nil {
			au = [][]byte{payload}
		}
		pk, ok, err := newVideoConv(c).packet(time.Second, time.Second, au)
		if err != nil || !ok {
			return
		}
		if !bytes.HasPrefix(pk.Data, []byte{0, 0, 0, 1}) {
			t.Fatalf("packet %x", pk.Data)
		}
		if pk.Key && !hasSPS(pk.Data, hevc) {
			t.Fatalf("keyframe without an SPS: %x", pk.Data)
		}
	})
}

// hasSPS tells whether Annex-B data holds an SPS.
func hasSPS(data []byte, hevc bool) bool {
	for _, n := range bytes.Split(data, []byte{0, 0, 0, 1}) {
		if len(n) > 0 && (!hevc && n[0]&0x1f == 7 || hevc && (n[0]>>1)&0x3f == 33) {
			return true
		}
	}
	return false
}

// FuzzRTMPAudio: audio configurations and frames never panic, and a
// track has a clock.
func FuzzRTMPAudio(f *testing.F) {
	asc, _ := testASC.Marshal()
	f.Add(asc, testAAC, int64(33))
	f.Add(testMP3[:4], testMP3, int64(-1))
	f.Add([]byte{0xff, 0xfb, 0x90}, []byte{}, int64(1<<40))
	f.Fuzz(func(t *testing.T, cfg, frame []byte, ms int64) {
		var c mpeg4audio.AudioSpecificConfig
		if c.Unmarshal(cfg) == nil {
			if tr, err := audioTrack(&codecs.MPEG4Audio{Config: &c}, nil); err == nil && tr.ClockRate <= 0 {
				t.Fatalf("AAC track %+v", tr)
			}
		}
		tr, err := audioTrack(&codecs.MPEG1Audio{}, cfg)
		if err != nil {
			return
		}
		if tr.ClockRate <= 0 {
			t.Fatalf("MP3 track %+v", tr)
		}
		pk, ok := audioConv{rate: tr.ClockRate}.packet(time.Duration(ms)*time.Millisecond, frame)
		if ok != (len(frame) > 0) || ok && (!pk.Audio || !bytes.Equal(pk.Data, frame)) {
			t.Fatalf("packet %+v %v", pk, ok)
		}
	})
}

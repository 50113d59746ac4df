package webrtc

import (
	"errors"
	"slices"
	"testing"

	"github.com/visiongate/visiongate/media"
)

func TestSplitPath(t *testing.T) {
	for _, c := range []struct {
		path, name, id string
		ok             bool
	}{
		{"/webrtc/cam/whep", "cam", "", true},
		{"/webrtc/cam/whep/abc", "cam", "abc", true},
		{"/webrtc/cam/whep/", "", "", false},
		{"/webrtc/cam/whep/a/b", "", "", false},
		{"/webrtc/cam", "", "", false},
		{"/webrtc/../whep", "", "", false},
		{"/hls/cam/whep", "", "", false},
	} {
		name, id, ok := splitPath(c.path)
		if ok != c.ok || ok && (name != c.name || id != c.id) {
			t.Errorf("splitPath(%q) = %q, %q, %v", c.path, name, id, ok)
		}
	}
}

func TestOpusSamples(t *testing.T) {
	for _, c := range []struct {
		pkt  []byte
		want uint32
	}{
		{[]byte{1 << 3}, 960},       // SILK 20 ms
		{[]byte{3 << 3}, 2880},      // SILK 60 ms
		{[]byte{31<<3 | 1}, 1920},   // CELT 20 ms, two frames
		{[]byte{16<<3 | 3, 3}, 360}, // CELT 2.5 ms, three frames
		{[]byte{13 << 3}, 960},      // hybrid 20 ms
		{nil, 960},                  // nothing: 20 ms
	} {
		if got := opusSamples(c.pkt); got != c.want {
			t.Errorf("opusSamples(%x) = %d, want %d", c.pkt, got, c.want)
		}
	}
}

const offerHead = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\n"

func TestParseOffer(t *testing.T) {
	video := "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n" +
		"a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=0;profile-level-id=42e01f\r\n" +
		"a=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=1;profile-level-id=4d0032\r\n" +
		"a=rtpmap:98 H264/90000\r\na=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
		"a=rtpmap:99 h264/90000\r\na=fmtp:99 packetization-mode=1;profile-level-id=640c1f\r\n"
	audio := "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
	o, err := parseOffer([]byte(offerHead + video + audio))
	if err != nil {
		t.Fatal(err)
	}
	if o.ufrag != "abcd" || len(o.h264) != 3 || len(o.audio) != 2 {
		t.Fatalf("offer %+v", o)
	}
	high := []byte{0x67, 0x64, 0x00, 0x1f}
	base := []byte{0x67, 0x42, 0xc0, 0x1f}
	for _, c := range []struct {
		sps  []byte
		want string
	}{
		{high, "640c1f"}, {base, "42e01f"}, {nil, "42e01f"}, {[]byte{0x67, 0x4d}, "4d0032"},
	} {
		if got := o.pickH264(c.sps).param("profile-level-id"); got != c.want {
			t.Errorf("pickH264(%x) = %s, want %s", c.sps, got, c.want)
		}
	}
	for _, c := range []struct {
		a    *media.AudioInfo
		want string
	}{
		{&media.AudioInfo{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}, "opus"},
		{&media.AudioInfo{Codec: media.CodecPCMU, SampleRate: 8000, Channels: 1}, "PCMU"},
		{&media.AudioInfo{Codec: media.CodecPCMA, SampleRate: 8000, Channels: 1}, ""},
		{&media.AudioInfo{Codec: media.CodecPCMU, SampleRate: 16000, Channels: 1}, ""},
		{&media.AudioInfo{Codec: media.CodecAAC, SampleRate: 48000, Channels: 2}, ""},
		{nil, ""},
	} {
		if f, _ := o.pickAudio(c.a); f.name != c.want {
			t.Errorf("pickAudio(%+v) = %q, want %q", c.a, f.name, c.want)
		}
	}

	var oe *OfferError
	var ce *CodecError
	for _, c := range []struct {
		sdp  string
		want any
	}{
		{offerHead + audio, &oe},
		{offerHead + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=rtpmap:96 H264/90000\r\n" +
			"a=fmtp:96 packetization-mode=1\r\n", &oe},
		{offerHead + "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 H264/90000\r\n" +
			"a=fmtp:97 packetization-mode=0\r\n", &ce},
		{"garbage", &oe},
	} {
		if _, err := parseOffer([]byte(c.sdp)); !errors.As(err, c.want) {
			t.Errorf("parseOffer: %v, want %T", err, c.want)
		}
	}
	_, err = parseOffer([]byte(offerHead + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"))
	if err == nil || err.Error() != "webrtc: no common codec: the stream is H.264 and the offer has no H.264 "+
		"with packetization-mode=1 (offered: VP8)" {
		t.Errorf("VP8 only: %v", err)
	}
}

func TestParseFragment(t *testing.T) {
	f := parseFragment("a=ice-ufrag:u1\r\na=ice-pwd:p\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\na=end-of-candidates\r\n")
	if f.ufrag != "u1" || len(f.candidates) != 1 || *f.candidates[0].SDPMid != "0" ||
		f.candidates[0].Candidate != "candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host" {
		t.Errorf("fragment %+v", f)
	}
	if got := rewriteRules(nil); got != nil {
		t.Errorf("rules for nothing: %v", got)
	}
	if !slices.Equal([]bool{isLoopback("127.0.0.1:0"), isLoopback(":8189"), isLoopback("localhost:1")},
		[]bool{true, false, true}) {
		t.Error("isLoopback")
	}
}

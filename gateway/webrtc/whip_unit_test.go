package webrtc

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/visiongate/visiongate/media"
)

func TestParseIngestOffer(t *testing.T) {
	// video makes a video section of formats given as "PT  rtpmap", fmtp
	// pairs, PT in three digits.
	video := func(dir string, fmts ...string) string {
		s := "m=video 9 UDP/TLS/RTP/SAVPF"
		var attrs string
		for i := 0; i+1 < len(fmts); i += 2 {
			s += " " + fmts[i][:3]
			attrs += "a=rtpmap:" + fmts[i][:3] + " " + fmts[i][4:] + "\r\n"
			if fmts[i+1] != "" {
				attrs += "a=fmtp:" + fmts[i][:3] + " " + fmts[i+1] + "\r\n"
			}
		}
		return s + "\r\na=mid:v\r\na=" + dir + "\r\n" + attrs
	}
	opus := "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"
	chrome := video("sendonly", "096 VP8/90000", "", "097 rtx/90000", "apt=96",
		"098 VP9/90000", "profile-id=0", "100 VP9/90000", "profile-id=2",
		"102 H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
		"045 AV1/90000", "level-idx=5;profile=0;tier=0")
	safari := video("sendonly", "096 H264/90000", "packetization-mode=1;profile-level-id=640c1f",
		"098 VP8/90000", "")
	for _, c := range []struct {
		name, sdp string
		codec     media.Codec
		pt        string
		opus      bool
	}{
		{"chrome", chrome + opus, media.CodecVP8, "096", true},
		{"safari", safari, media.CodecH264, "096", false},
		{"VP9 profile 2 first", video("sendrecv", "100 VP9/90000", "profile-id=2", "045 AV1/90000", ""),
			media.CodecAV1, "045", false},
		{"VP9 without profile", video("sendonly", "098 VP9/90000", ""), media.CodecVP9, "098", false},
		{"sound not sent", chrome + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n",
			media.CodecVP8, "096", false},
		{"no Opus", chrome + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=sendonly\r\na=rtpmap:0 PCMU/8000\r\n",
			media.CodecVP8, "096", false},
	} {
		o, err := parseIngestOffer([]byte(offerHead + c.sdp))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if o.codec != c.codec || o.video.pt != c.pt || o.opus != c.opus || o.mid != "v" || o.ufrag != "abcd" {
			t.Errorf("%s: %s pt %s opus %v mid %q ufrag %q", c.name, o.codec, o.video.pt, o.opus, o.mid, o.ufrag)
		}
	}

	_, err := parseIngestOffer([]byte(offerHead + video("sendonly", "100 VP9/90000", "profile-id=2",
		"101 rtx/90000", "apt=100", "102 H264/90000", "packetization-mode=0;profile-level-id=42e01f", "103 H265/90000", "")))
	want := "webrtc: no codec to ingest: the offer has VP9 (profile-id=2), H264 (packetization-mode=0, " +
		"profile-level-id=42e01f), H265; WHIP takes VP8, VP9 (profile 0), H.264 (packetization-mode=1) or AV1 (profile 0) video"
	if ce := new(IngestCodecError); !errors.As(err, &ce) || err.Error() != want || ingestStatus(err) != http.StatusBadRequest {
		t.Errorf("unsupported codecs: %v", err)
	}
	for _, sdp := range []string{"garbage", offerHead + opus, offerHead + video("recvonly", "096 VP8/90000", "")} {
		if _, err := parseIngestOffer([]byte(sdp)); !errors.As(err, new(*OfferError)) {
			t.Errorf("parseIngestOffer(%q): %v, want an OfferError", sdp, err)
		}
	}
}

func TestCredentials(t *testing.T) {
	for _, c := range []struct{ header, user, pass string }{
		{"Basic cHViOnNlY3JldA==", "pub", "secret"},
		{"Bearer tok", "", "tok"},
		{"bearer  tok ", "", "tok"},
		{"Digest x", "", ""},
		{"", "", ""},
	} {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Authorization", c.header)
		if u, p := credentials(r); u != c.user || p != c.pass {
			t.Errorf("credentials(%q) = %q, %q", c.header, u, p)
		}
	}
}

func TestSplitEndpoint(t *testing.T) {
	for _, c := range []struct {
		path, name, id string
		ok             bool
	}{
		{"/webrtc/cam/whip", "cam", "", true},
		{"/webrtc/cam/whip/abc", "cam", "abc", true},
		{"/webrtc/cam/whep", "", "", false},
		{"/webrtc/cam/whip/", "", "", false},
	} {
		name, id, ok := splitEndpoint(c.path, "whip")
		if ok != c.ok || ok && (name != c.name || id != c.id) {
			t.Errorf("splitEndpoint(%q) = %q, %q, %v", c.path, name, id, ok)
		}
	}
}

func TestVP8Key(t *testing.T) {
	key := []byte{0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x07, 0x38, 0x44} // 1920x1080, scale bits set
	if k, w, h := vp8Key(key); !k || w != 1920 || h != 1080 {
		t.Errorf("keyframe: %v %dx%d", k, w, h)
	}
	if k, _, _ := vp8Key([]byte{0x51, 0, 0, 0, 0, 0, 0, 0, 0, 0}); k {
		t.Error("an interframe is a keyframe")
	}
	if k, w, _ := vp8Key([]byte{0x50, 0, 0, 1, 2, 3, 4, 5, 6, 7}); !k || w != 0 {
		t.Error("a keyframe without start code")
	}
}

func TestRTPClock(t *testing.T) {
	var c rtpClock
	for _, s := range []struct {
		ts   uint32
		want int64
	}{
		{0xffff_ff00, 9000}, // arrives 100 ms in
		{0x0000_0100, 9000 + 0x200},
		{0xffff_ff80, 9000 + 0x80}, // late
		{0x0000_1000, 9000 + 0x1100},
	} {
		if got := c.pts(s.ts, 100*time.Millisecond, 90000); got != s.want {
			t.Errorf("pts(%#x) = %d, want %d", s.ts, got, s.want)
		}
	}
}

// Padding packets (bandwidth probes) are no loss; a packet that never
// comes marks the frame after it.
func TestAssemblerLossAndPadding(t *testing.T) {
	a := newAssembler(media.CodecVP8)
	var pay codecs.VP8Payloader
	seq := uint16(65000)
	var frames []frame
	push := func(p *rtp.Packet) { frames = append(frames, a.push(p, 0)...) }
	for i := range 40 {
		ts := uint32(i * 3000)
		data := make([]byte, 2500) // two or three packets
		data[0] = 1                // an interframe...
		if i == 0 {
			data[0] = 0 // ...but the first
		}
		payloads := pay.Payload(1200, data)
		for j, pl := range payloads {
			p := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: j == len(payloads)-1},
				Payload: pl}
			seq++
			if i == 20 && j == 1 {
				continue // lost
			}
			push(p)
		}
		if i%5 == 0 { // padding after the frame
			push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Padding: true}})
			seq++
		}
	}
	if len(frames) < 30 || !frames[0].key || frames[0].pts != 0 {
		t.Fatalf("%d frames, first %+v", len(frames), frames[0])
	}
	for _, f := range frames {
		switch pts := f.pts; {
		case pts == 20*3000:
			t.Error("the frame missing a packet came out")
		case f.lost != (pts == 21*3000):
			t.Errorf("frame at %d: lost %v", pts, f.lost)
		}
	}
}

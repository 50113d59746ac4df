package main

import (
	"os"
	"reflect"
	"testing"

	"github.com/visiongate/visiongate/internal/testmedia"
	"github.com/visiongate/visiongate/media"
)

// A playlist as visiongate serves it (gohlslib, low-latency variant).
const testPlaylist = `#EXTM3U
#EXT-X-VERSION:10
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.50000,CAN-SKIP-UNTIL=6.00000
#EXT-X-PART-INF:PART-TARGET=0.20000
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-MAP:URI="abc_video1_init.mp4"
#EXTINF:1.00000,
abc_video1_seg8.mp4
#EXT-X-PART:DURATION=0.20000,URI="abc_video1_part10.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="abc_video1_part11.mp4"
#EXTINF:1.00000,
abc_video1_seg9.mp4
#EXT-X-PART:DURATION=0.20000,URI="abc_video1_part15.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="abc_video1_part16.mp4"
#EXT-X-PART:DURATION=0.20000,URI="abc_video1_part17.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="abc_video1_part18.mp4"
`

func TestParseMediaPlaylist(t *testing.T) {
	const base = "http://h/hls/cam/video1_stream.m3u8"
	mp := parseMedia(base, []byte(testPlaylist))
	if mp.init != "http://h/hls/cam/abc_video1_init.mp4" || mp.hint != "http://h/hls/cam/abc_video1_part18.mp4" {
		t.Fatalf("init %q hint %q", mp.init, mp.hint)
	}
	if len(mp.parts) != 5 || !mp.parts[0].independent || mp.parts[1].independent || !mp.parts[2].independent {
		t.Fatalf("parts %+v", mp.parts)
	}
	parts, hint := parsePlaylist(base, []byte(testPlaylist))
	if len(parts) != 5 || parts[4] != "http://h/hls/cam/abc_video1_part17.mp4" || hint != mp.hint {
		t.Fatalf("parsePlaylist: %v %q", parts, hint)
	}
}

func TestStartPartsFromLastIndependent(t *testing.T) {
	mp := parseMedia("http://h/x.m3u8", []byte(testPlaylist))
	want := []string{"http://h/abc_video1_part15.mp4", "http://h/abc_video1_part16.mp4", "http://h/abc_video1_part17.mp4"}
	if got := startParts(mp.parts); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := startParts([]hlsPart{{uri: "a"}, {uri: "b"}}); got != nil {
		t.Fatalf("no independent part: got %v, want nil (follow the hint)", got)
	}
}

func TestUnseenKeepsOrderAndMarks(t *testing.T) {
	seen := map[string]bool{"a": true}
	got := unseen([]hlsPart{{uri: "a"}, {uri: "b"}, {uri: "c"}}, seen)
	if !reflect.DeepEqual(got, []string{"b", "c"}) || !seen["c"] {
		t.Fatalf("got %v, seen %v", got, seen)
	}
	if got := unseen([]hlsPart{{uri: "c"}}, seen); got != nil {
		t.Fatalf("second call: %v", got)
	}
}

// clipAUs is a 1 s clip at 10 fps with a keyframe every 5 frames, split
// into access units (NAL units without start codes).
func clipAUs(t *testing.T) [][][]byte {
	path := testmedia.Make(t, testmedia.Clip{Width: 64, Height: 48, FPS: 10, Seconds: 1, GOP: 5, Container: "h264"})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	slice := false // the current unit has its picture: the next picture or parameter set starts another
	for _, n := range media.SplitAnnexB(data, nil) {
		typ := media.NALUType(media.CodecH264, n)
		if len(aus) == 0 || slice && (typ == 1 || typ == 5 || typ >= 6 && typ <= 9) {
			aus, slice = append(aus, nil), false
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
		slice = slice || typ == 1 || typ == 5
	}
	if len(aus) != 10 || !hasIDR(aus[0]) || hasIDR(aus[1]) || !hasIDR(aus[5]) {
		t.Fatalf("clip: %d units, want 10 with IDRs at 0 and 5", len(aus))
	}
	return aus
}

// firstPicture feeds units until a picture comes out; how many it took.
func firstPicture(t *testing.T, w *frameWaiter, aus [][][]byte) int {
	t.Helper()
	defer w.close()
	for _, au := range aus {
		ok, err := w.feed(au)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if w.W != 64 || w.H != 48 {
				t.Fatalf("picture %dx%d", w.W, w.H)
			}
			return w.Units
		}
	}
	return -1
}

func TestFrameWaiterFirstPictureAtKeyframe(t *testing.T) {
	aus := clipAUs(t)
	w, err := newFrameWaiter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := firstPicture(t, w, aus); n != 1 {
		t.Fatalf("from the IDR: picture after %d units, want 1", n)
	}
	w, _ = newFrameWaiter(nil, nil)
	if n := firstPicture(t, w, aus[1:]); n != 5 {
		t.Fatalf("joined after the IDR: picture after %d units, want 5 (the next IDR)", n)
	}
}

// A stream whose parameter sets came out of band (SDP, init segment)
// decodes from its first IDR as well.
func TestFrameWaiterOutOfBandParams(t *testing.T) {
	aus := clipAUs(t)
	var sps, pps []byte
	var stripped [][][]byte
	for _, au := range aus {
		var keep [][]byte
		for _, n := range au {
			switch media.NALUType(media.CodecH264, n) {
			case media.H264NALSPS:
				sps = n
			case media.H264NALPPS:
				pps = n
			default:
				keep = append(keep, n)
			}
		}
		stripped = append(stripped, keep)
	}
	w, err := newFrameWaiter(sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	if n := firstPicture(t, w, stripped[3:]); n != 3 {
		t.Fatalf("picture after %d units, want 3 (the IDR at 5)", n)
	}
	w, _ = newFrameWaiter(nil, nil)
	if n := firstPicture(t, w, stripped); n != -1 {
		t.Fatalf("without parameter sets a picture came after %d units", n)
	}
}

package app

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/internal/testmedia"
)

// Issue 10 item 1: a source's sound reaches RTSP readers in its own codec,
// next to the re-encoded video, for every codec cameras send.
func TestAudioPassesThroughRTSP(t *testing.T) {
	type source struct{ name, path, want string }
	var sources []source
	for _, c := range []struct{ encoder, container, want string }{
		{"aac", "mp4", "aac"},
		{"aac", "ts", "aac"}, // ADTS framing, no configuration in the container
		{"pcm_mulaw", "mkv", "pcm_mulaw"},
		{"pcm_alaw", "mkv", "pcm_alaw"},
		{"libopus", "mkv", "opus"},
		{"libmp3lame", "mkv", "mp3"},
		{"ac3", "mkv", "ac3"},
	} {
		clip := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 25, Seconds: 2, Container: c.container,
			Audio: true, AudioCodec: c.encoder})
		sources = append(sources, source{c.encoder + "_" + c.container, clip, c.want})
	}
	// A real clip with AC-3 sound: OpenCV's Megamind.avi.
	sources = append(sources, source{"megamind", testmedia.OpenCVSample(t, "Megamind.avi"), "ac3"})
	var cfg strings.Builder
	cfg.WriteString("allow_local_sources: true\nsources:\n")
	for _, s := range sources {
		fmt.Fprintf(&cfg, "  - name: %s\n    url: file://%s\n", s.name, s.path)
	}
	g := startGateway(t, cfg.String())
	for _, s := range sources {
		g.waitRunning(s.name, 10*time.Second)
		if got, want := probeStreams(t, g.rtspURL(s.name)), "audio:"+s.want+",video:h264"; got != want {
			t.Errorf("%s: ffprobe sees %q, want %q", s.name, got, want)
		}
	}
}

// probeStreams lists the kinds of stream of an RTSP or HLS URL as ffprobe
// sees them, sorted and once each ("audio:aac,video:h264"): an HLS
// playlist's renditions and programs repeat them.
func probeStreams(t *testing.T, url string) string {
	t.Helper()
	args := []string{"-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0", url}
	if strings.HasPrefix(url, "rtsp:") {
		args = append([]string{"-rtsp_transport", "tcp"}, args...)
	}
	out, err := exec.Command("ffprobe", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	var streams []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, kind, ok := strings.Cut(strings.TrimSpace(l), ","); ok {
			streams = append(streams, kind+":"+name)
		}
	}
	slices.Sort(streams)
	return strings.Join(slices.Compact(streams), ",")
}

// LL-HLS carries AAC and Opus next to the video; a codec fMP4 HLS cannot
// carry (G.711, AC-3) is transcoded to AAC while HLS is watched.
func TestAudioReachesLLHLS(t *testing.T) {
	cases := []struct{ encoder, container, want string }{
		{"aac", "mp4", "audio:aac,video:h264"},
		{"aac", "ts", "audio:aac,video:h264"},
		{"libopus", "mkv", "audio:opus,video:h264"},
		{"pcm_mulaw", "mkv", "audio:aac,video:h264"},
		{"ac3", "mkv", "audio:aac,video:h264"},
	}
	var cfg strings.Builder
	cfg.WriteString("allow_local_sources: true\nsources:\n")
	for i, c := range cases {
		clip := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 25, Seconds: 2, Container: c.container,
			Audio: true, AudioCodec: c.encoder})
		fmt.Fprintf(&cfg, "  - name: h%d\n    url: file://%s\n", i, clip)
	}
	g := startGateway(t, cfg.String())
	for i, c := range cases {
		name := fmt.Sprintf("h%d", i)
		g.waitRunning(name, 10*time.Second)
		transcodes := !strings.HasPrefix(c.encoder, "aac") && c.encoder != "libopus"
		if st := g.status(name); st.Audio == nil || st.Audio.Transcoding {
			t.Errorf("%s before any HLS request: audio %+v, want described and not transcoded", c.encoder, st.Audio)
		}
		if got := probeStreams(t, g.base+"/hls/"+name+"/index.m3u8"); got != c.want {
			t.Errorf("%s in %s over LL-HLS: ffprobe sees %q, want %q", c.encoder, c.container, got, c.want)
		}
		if st := g.status(name); st.Audio.Transcoding != transcodes || (transcodes && !strings.HasPrefix(st.Audio.TranscodedTo, "aac")) {
			t.Errorf("%s while HLS is watched: audio %+v, want transcoding %v (to aac)", c.encoder, st.Audio, transcodes)
		}
	}
}

// RTSP cameras with sound: AAC reaches RTSP and LL-HLS as it is; G.711
// reaches RTSP as it is and LL-HLS as AAC; a relayed source (transcode
// false) relays its sound too.
func TestAudioFromRTSPCameras(t *testing.T) {
	cases := []struct {
		name, audio string
		relay       bool
		rtsp, hls   string
	}{
		{"aac", "aac", false, "audio:aac,video:h264", "audio:aac,video:h264"},
		{"pcmu", "pcmu", false, "audio:pcm_mulaw,video:h264", "audio:aac,video:h264"},
		{"relay", "pcmu", true, "audio:pcm_mulaw,video:h264", "audio:aac,video:h264"},
	}
	var cfg strings.Builder
	cfg.WriteString("sources:\n")
	for _, c := range cases {
		cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25, Audio: c.audio})
		fmt.Fprintf(&cfg, "  - name: %s\n    url: %s\n    transport: tcp\n    transcode: %v\n", c.name, cam.URL, !c.relay)
	}
	g := startGateway(t, cfg.String())
	for _, c := range cases {
		g.waitRunning(c.name, 10*time.Second)
		if got := probeStreams(t, g.rtspURL(c.name)); got != c.rtsp {
			t.Errorf("%s over RTSP: %q, want %q", c.name, got, c.rtsp)
		}
		if got := probeStreams(t, g.base+"/hls/"+c.name+"/index.m3u8"); got != c.hls {
			t.Errorf("%s over LL-HLS: %q, want %q", c.name, got, c.hls)
		}
	}
	if st := g.status("relay"); st.Encoder.Name != "" || st.Audio == nil || st.Audio.Codec != "pcmu" {
		t.Errorf("relay: encoder %+v, audio %+v; want no encoder and pcmu sound", st.Encoder, st.Audio)
	}
}

// audio: aac and audio: opus give every output that codec, transcoded from
// whatever the camera sends (a camera already in it passes through).
func TestAudioCodecAsked(t *testing.T) {
	cases := []struct{ source, encoder, audio, want, transcoded string }{
		{"ulaw_as_aac", "pcm_mulaw", "aac", "aac", "aac,opus"}, // Opus for WebRTC
		{"ulaw_as_opus", "pcm_mulaw", "opus", "opus", "opus"},
		{"aac_as_opus", "aac", "opus", "opus", "opus"},
		{"aac_as_aac", "aac", "aac", "aac", "opus"},
	}
	var cfg strings.Builder
	cfg.WriteString("allow_local_sources: true\nsources:\n")
	for _, c := range cases {
		clip := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 25, Seconds: 2, Container: "mkv",
			Audio: true, AudioCodec: c.encoder})
		fmt.Fprintf(&cfg, "  - name: %s\n    url: file://%s\n    audio: %s\n", c.source, clip, c.audio)
	}
	g := startGateway(t, cfg.String())
	for _, c := range cases {
		g.waitRunning(c.source, 10*time.Second)
		want := "audio:" + c.want + ",video:h264"
		if got := probeStreams(t, g.rtspURL(c.source)); got != want {
			t.Errorf("%s over RTSP: %q, want %q", c.source, got, want)
		}
		if got := probeStreams(t, g.base+"/hls/"+c.source+"/index.m3u8"); got != want {
			t.Errorf("%s over LL-HLS: %q, want %q", c.source, got, want)
		}
		if st := g.status(c.source); st.Audio == nil || st.Audio.TranscodedTo != c.transcoded {
			t.Errorf("%s: audio %+v, want transcoded to %q", c.source, st.Audio, c.transcoded)
		}
	}
}

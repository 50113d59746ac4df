package app

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testmedia"
)

// Issue 10 item 1: a source's sound reaches RTSP readers in its own codec,
// next to the re-encoded video, for every codec cameras send.
func TestAudioPassesThroughRTSP(t *testing.T) {
	cases := []struct{ encoder, container, want string }{
		{"aac", "mp4", "aac"},
		{"aac", "ts", "aac"}, // ADTS framing, no configuration in the container
		{"pcm_mulaw", "mkv", "pcm_mulaw"},
		{"pcm_alaw", "mkv", "pcm_alaw"},
		{"libopus", "mkv", "opus"},
		{"libmp3lame", "mkv", "mp3"},
		{"ac3", "mkv", "ac3"},
	}
	var cfg strings.Builder
	cfg.WriteString("allow_local_sources: true\nsources:\n")
	for i, c := range cases {
		clip := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 25, Seconds: 2, Container: c.container,
			Audio: true, AudioCodec: c.encoder})
		fmt.Fprintf(&cfg, "  - name: a%d\n    url: file://%s\n", i, clip)
	}
	g := startGateway(t, cfg.String())
	for i, c := range cases {
		name := fmt.Sprintf("a%d", i)
		g.waitRunning(name, 10*time.Second)
		got := probeStreams(t, g.rtspURL(name))
		if want := "video:h264,audio:" + c.want; got != want {
			t.Errorf("%s in %s: ffprobe sees %q, want %q", c.encoder, c.container, got, want)
		}
	}
}

// probeStreams lists an RTSP URL's streams as ffprobe sees them:
// "video:h264,audio:aac".
func probeStreams(t *testing.T, url string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	var streams []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, kind, ok := strings.Cut(strings.TrimSpace(l), ","); ok {
			streams = append(streams, kind+":"+name)
		}
	}
	return strings.Join(streams, ",")
}

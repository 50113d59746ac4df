package app

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The same encode is served as Low-Latency HLS: ffprobe reads the
// playlist's stream and ffmpeg decodes it.
func TestHLSOutput(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\nsources:\n  - name: h\n    url: \"lavfi:testsrc2=size=320x240:rate=25\"\n")
	g.waitRunning("h", 10*time.Second)
	url := g.base + "/hls/h/index.m3u8"
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", url).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "h264,320,240") {
		t.Fatalf("ffprobe %s: %v %q", url, err, out)
	}
	_, index := g.do("GET", "/hls/h/index.m3u8", "")
	media := ""
	for _, line := range strings.Split(string(index), "\n") {
		if strings.HasSuffix(line, ".m3u8") {
			media = line
		}
	}
	code, body := g.do("GET", "/hls/h/"+media, "")
	if code != 200 || !strings.Contains(string(body), "#EXT-X-PART") {
		t.Errorf("media playlist %d is not LL-HLS:\n%s", code, body)
	}
	st := g.waitRunning("h", time.Second)
	if st.Readers["hls"] == 0 {
		t.Errorf("hls readers = %v after ffprobe and a GET", st.Readers)
	}
	if code, _ := g.do("GET", "/hls/none/index.m3u8", ""); code != 404 {
		t.Errorf("unknown source: %d", code)
	}
}

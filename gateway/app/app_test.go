package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/internal/testmedia"
)

// loopbackListeners puts the publish and WebRTC listeners on free
// loopback ports.
const loopbackListeners = "rtmp: 127.0.0.1:0\nsrt: 127.0.0.1:0\nwebrtc: {udp: 127.0.0.1:0, tcp: 127.0.0.1:0}\n"

// gateway is an in-process visiongate on loopback ports.
type gateway struct {
	*App
	t    *testing.T
	base string
}

func startGateway(t *testing.T, yaml string) *gateway {
	t.Helper()
	rtp, rtcp := testcam.FreeUDPPair(t)
	head := fmt.Sprintf("http: 127.0.0.1:0\nrtsp: 127.0.0.1:0\nrtsp_rtp_address: 127.0.0.1:%d\nrtsp_rtcp_address: 127.0.0.1:%d\n", rtp, rtcp) +
		loopbackListeners
	cfg, err := config.Parse([]byte(head + yaml))
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, cfg)
}

func startWith(t *testing.T, cfg *config.Config) *gateway {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{App: a, t: t, base: "http://" + a.HTTPAddr()}
	t.Cleanup(func() { _ = a.Close() })
	return g
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (g *gateway) do(method, path, body string) (int, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitRunning polls the status API until frames come in from the source.
func (g *gateway) waitRunning(name string, within time.Duration) manager.Status {
	g.t.Helper()
	deadline := time.Now().Add(within)
	var st manager.Status
	for time.Now().Before(deadline) {
		code, b := g.do("GET", "/api/v1/sources/"+name, "")
		if code == http.StatusOK && json.Unmarshal(b, &st) == nil && st.State == manager.StateRunning && st.FramesIn > 0 {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("source %s not running within %v: %+v", name, within, st)
	return st
}

func (g *gateway) rtspURL(name string) string { return "rtsp://" + g.RTSPAddr() + "/" + name }

// A camera added through the API is re-encoded and readable over RTSP with
// TCP and UDP, at (almost) its full frame rate, with monotonic timestamps.
func TestCameraThroughGateway(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 640, Height: 360, FPS: 25})
	g := startGateway(t, "sources: []\n")
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			name := "cam_" + transport
			body := fmt.Sprintf(`{"name":%q,"url":%q,"transport":%q}`, name, cam.URL, transport)
			posted := time.Now()
			if code, b := g.do("POST", "/api/v1/sources", body); code != http.StatusCreated {
				t.Fatalf("POST = %d %s", code, b)
			}
			st := g.waitRunning(name, 10*time.Second)
			t.Logf("first frame in %v after POST", time.Since(posted).Round(time.Millisecond))
			if st.Input.Codec != "h264" || st.Input.Width != 640 || st.Decoder.Name == "" {
				t.Errorf("status = %+v", st)
			}
			for _, reader := range []string{"tcp", "udp"} {
				r, err := testcam.Read(g.rtspURL(name), reader, 3*time.Second)
				if err != nil {
					t.Fatalf("read over %s: %v", reader, err)
				}
				checkReading(t, r, 640, 360, 25, 3*time.Second)
			}
			if st := g.status(name); st.Encoder.Name != "libx264" || !st.Encoder.Running || st.Encoder.Starts != 1 {
				t.Errorf("encoder after two readers: %+v, want libx264 running, started once", st.Encoder)
			}
		})
	}
}

func checkReading(t *testing.T, r *testcam.Reading, w, h, fps int, d time.Duration) {
	t.Helper()
	want := int(0.8 * float64(fps) * (d - r.FirstAfter).Seconds())
	t.Logf("read %d frames (%dx%d), first after %v", r.Frames, r.Width, r.Height, r.FirstAfter.Round(time.Millisecond))
	if r.Frames < want {
		t.Errorf("got %d frames, want at least %d (80%% of %d fps)", r.Frames, want, fps)
	}
	if r.Width != w || r.Height != h {
		t.Errorf("size %dx%d, want %dx%d", r.Width, r.Height, w, h)
	}
	// The reader's clock starts at a keyframe; the check must have run on
	// the frames from there (it once silently never did).
	if fromIDR := r.Frames - r.BeforeIDR; r.NonMonotonic > 0 || (fromIDR > 0 && r.Timed == 0) {
		t.Errorf("%d frames with non-increasing timestamps, %d of %d frames from the first keyframe timed",
			r.NonMonotonic, r.Timed, fromIDR)
	}
	if r.BeforeIDR > fps { // keyframes come every second
		t.Errorf("%d frames before the first keyframe", r.BeforeIDR)
	}
}

// A file made with ffmpeg's lavfi plays through the gateway; ffprobe and
// ffmpeg (real RTSP clients) read it.
func TestFileSourceWithFFmpegClients(t *testing.T) {
	clip := testmedia.Make(t, testmedia.Clip{Width: 320, Height: 240, FPS: 30, Seconds: 1, Audio: true})
	g := startGateway(t, fmt.Sprintf("allow_local_sources: true\nencoder: {width: 256}\nsources:\n  - name: clip\n    url: file://%s\n", clip))
	g.waitRunning("clip", 10*time.Second)
	out, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", g.rtspURL("clip")).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "h264,256,192" {
		t.Errorf("ffprobe says %q, want h264,256,192 (width 256 keeps 4:3)", got)
	}
	for _, transport := range []string{"udp", "tcp"} {
		frames, span := ffmpegCountFrames(t, g.rtspURL("clip"), transport, 3)
		// ffmpeg's clock starts before the first keyframe it can decode,
		// so judge the frames against the span they cover.
		if span < 45 || float64(frames) < 0.8*float64(span) {
			t.Errorf("%s: ffmpeg decoded %d frames over a span of %d frame times", transport, frames, span)
		}
	}
}

// ffmpegCountFrames decodes seconds of the stream with the ffmpeg CLI and
// returns how many frames it decoded and the span of their timestamps in
// frame times; it fails on timestamp errors.
func ffmpegCountFrames(t *testing.T, url, transport string, seconds int) (frames, span int) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-rtsp_transport", transport, "-i", url,
		"-t", strconv.Itoa(seconds), "-f", "framecrc", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "non monotonic") || strings.Contains(stderr.String(), "Non-monotonous") {
		t.Errorf("ffmpeg saw bad timestamps:\n%s", stderr.String())
	}
	first, last := -1, -1
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, ",")
		if len(fields) < 3 || fields[0] != "0" {
			continue
		}
		pts, err := strconv.Atoi(strings.TrimSpace(fields[2]))
		if err != nil {
			continue
		}
		if first < 0 {
			first = pts
		}
		last = pts
		frames++
	}
	return frames, last - first + 1
}

// transcode: false republishes the camera's own H.264.
func TestRelayKeepsTheOriginalStream(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	g := startGateway(t, fmt.Sprintf("sources:\n  - name: relay\n    url: %s\n    transcode: false\n", cam.URL))
	st := g.waitRunning("relay", 10*time.Second)
	if st.Encoder.Name != "" || st.Decoder.Name != "" {
		t.Errorf("relay decodes or encodes: %+v / %+v", st.Decoder, st.Encoder)
	}
	r, err := testcam.Read(g.rtspURL("relay"), "tcp", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkReading(t, r, 320, 240, 25, 2*time.Second)
	if !bytes.Equal(r.SPS, cam.AUs[0][0]) {
		t.Errorf("relayed SPS %x differs from the camera's %x", r.SPS, cam.AUs[0][0])
	}
}

func TestAPIErrorsAndDelete(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	g := startGateway(t, "sources: []\n")
	cases := []struct {
		body string
		code int
		want string
	}{
		{`{"name":"a b","url":"rtsp://h/x"}`, 400, "name"},
		{`{"name":"a","url":"ftp://h/x"}`, 400, "url"},
		{`{"name":"a","url":"file:///etc/passwd"}`, 400, "url"},
		{`{"name":"a","url":"lavfi:testsrc2"}`, 400, "url"},
		{`{"name":"a","url":"rtsp://h/x","colour":1}`, 400, "colour"},
		{`{"name":`, 400, ""},
	}
	for _, c := range cases {
		code, b := g.do("POST", "/api/v1/sources", c.body)
		var e struct{ Error string }
		if code != c.code || json.Unmarshal(b, &e) != nil || e.Error == "" || !strings.Contains(e.Error, c.want) {
			t.Errorf("POST %s = %d %s, want %d naming %q", c.body, code, b, c.code, c.want)
		}
	}
	body := fmt.Sprintf(`{"name":"cam","url":%q}`, cam.URL)
	if code, b := g.do("POST", "/api/v1/sources", body); code != 201 {
		t.Fatalf("POST = %d %s", code, b)
	}
	if code, _ := g.do("POST", "/api/v1/sources", body); code != 409 {
		t.Errorf("duplicate POST = %d, want 409", code)
	}
	g.waitRunning("cam", 10*time.Second)
	if code, _ := g.do("DELETE", "/api/v1/sources/cam", ""); code != 204 {
		t.Fatalf("DELETE = %d", code)
	}
	if code, _ := g.do("GET", "/api/v1/sources/cam", ""); code != 404 {
		t.Errorf("GET after DELETE = %d, want 404", code)
	}
	if _, err := testcam.Read(g.rtspURL("cam"), "tcp", time.Second); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("RTSP after DELETE: err = %v, want 404", err)
	}
}

// Sources added through the API come back after a restart.
func TestStateFileRestoresSources(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	state := filepath.Join(t.TempDir(), "state.json")
	g := startGateway(t, "state: "+state+"\nsources: []\n")
	if code, b := g.do("POST", "/api/v1/sources", fmt.Sprintf(`{"name":"kept","url":%q}`, cam.URL)); code != 201 {
		t.Fatalf("POST = %d %s", code, b)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(state); err != nil || !strings.Contains(string(b), `"kept"`) {
		t.Fatalf("state file: %v %s", err, b)
	}
	g2 := startGateway(t, "state: "+state+"\nsources: []\n")
	g2.waitRunning("kept", 10*time.Second)
}

// The bar: a 1280x720 30 fps camera added through the API plays
// within seconds at its full frame rate.
func TestHDCameraPlaysSoonAfterPOST(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 1280, Height: 720, FPS: 30})
	g := startGateway(t, "sources: []\n")
	posted := time.Now()
	if code, b := g.do("POST", "/api/v1/sources", fmt.Sprintf(`{"name":"hd","url":%q}`, cam.URL)); code != 201 {
		t.Fatalf("POST = %d %s", code, b)
	}
	// DESCRIBE waits for the first keyframe, as ffplay would need.
	r, err := testcam.Read(g.rtspURL("hd"), "tcp", 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	firstFrame := time.Since(posted) - 4*time.Second + r.FirstAfter
	t.Logf("POST to first frame at the reader: %v", firstFrame.Round(time.Millisecond))
	checkReading(t, r, 1280, 720, 30, 4*time.Second)
	if firstFrame > 10*time.Second {
		t.Errorf("first frame %v after POST", firstFrame)
	}
}

// PATCH restarts the pipeline on the same hub: a connected reader keeps
// its session and its timestamps keep increasing.
func TestPatchKeepsReadersConnected(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	g := startGateway(t, fmt.Sprintf("sources:\n  - name: p\n    url: %s\n", cam.URL))
	g.waitRunning("p", 10*time.Second)
	done := testcam.ReadAsync(g.rtspURL("p"), "tcp", 5*time.Second)
	g.waitReaders("p", "rtsp", 1, 5*time.Second) // change the source under a playing reader
	code, b := g.do("PATCH", "/api/v1/sources/p", `{"encoder":{"crf":35}}`)
	if code != 200 {
		t.Fatalf("PATCH = %d %s", code, b)
	}
	res := <-done
	if res.Err != nil {
		t.Fatalf("reader dropped by PATCH: %v", res.Err)
	}
	if r := res.Reading; r.NonMonotonic > 0 || r.Frames < 50 {
		t.Errorf("reader got %d frames, %d non-monotonic", r.Frames, r.NonMonotonic)
	}
	st := g.waitRunning("p", 10*time.Second)
	if st.Source.Encoder.CRF != 35 {
		t.Errorf("status after PATCH: %+v", st.Source)
	}
}

// A camera that changes resolution mid-stream keeps its readers: the
// output size stays, new pictures are scaled to it.
func TestCameraResolutionChange(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25, SwitchWidth: 480, SwitchHeight: 270})
	g := startGateway(t, fmt.Sprintf("sources:\n  - name: sw\n    url: %s\n", cam.URL))
	g.waitRunning("sw", 10*time.Second)
	r, err := testcam.Read(g.rtspURL("sw"), "tcp", 4*time.Second) // spans the switch at 2 s
	if err != nil {
		t.Fatalf("reader dropped: %v", err)
	}
	if cam.Sent() < 60 {
		t.Fatalf("camera sent only %d frames: the switch did not happen", cam.Sent())
	}
	checkReading(t, r, 320, 240, 25, 4*time.Second)
	st := g.waitRunning("sw", time.Second)
	if st.Attempts != 1 {
		t.Errorf("the size change cost %d attempts", st.Attempts)
	}
}

package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testmedia"
)

const (
	chromiumPath   = "/usr/bin/chromium"
	browserTimeout = 3 * time.Minute
)

var (
	latencyLine     = regexp.MustCompile(`(?m)^HLS_LATENCY_S=([0-9.]+)$`)
	webrtcFPSLine   = regexp.MustCompile(`(?m)^WEBRTC_FPS=([0-9.]+)$`)
	webrtcFirstLine = regexp.MustCompile(`(?m)^WEBRTC_FIRST_FRAME_MS=([0-9]+)$`)
)

// The web page in a real browser: Debian's chromium, headless, driven by
// e2e/browser.mjs (playwright-core). It sees the source listed and playing
// over WebRTC, then HLS (or MJPEG when HLS cannot play), switches to MJPEG
// and sees the picture change, adds a source through the form and removes
// it, plays a G.711 camera's sound (over WebRTC, and AAC in LL-HLS), plays
// a 720p30 source with a detector over WebRTC (first picture ≤ 1.5 s after
// the offer, ≥ 25 fps, the annotated picture), falls back to LL-HLS when
// WebRTC cannot connect, and saves a screenshot in $VISIONGATE_ARTIFACTS
// (or a temporary folder).
func TestBrowserPage(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	needs := map[string]string{
		filepath.Join(root, "node_modules", "playwright-core", "package.json"): "playwright-core (npm)",
		chromiumPath: "Debian's chromium",
	}
	for p, what := range needs {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing (%s): run make setup", what, p)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH: run make setup")
	}
	artifacts := os.Getenv("VISIONGATE_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if artifacts, err = filepath.Abs(artifacts); err != nil {
		t.Fatal(err)
	}

	sound := testmedia.Make(t, testmedia.Clip{Width: 320, Height: 240, FPS: 25, Seconds: 4, Container: "mkv",
		Audio: true, AudioCodec: "pcm_mulaw"})
	g := startGateway(t, "allow_local_sources: true\napi_local_sources: true\n"+
		"sources:\n  - name: t\n    url: \"lavfi:testsrc2=size=640x360:rate=25\"\n"+
		"  - name: sound\n    url: file://"+sound+"\n"+
		"  - name: hd\n    url: \"lavfi:testsrc2=size=1280x720:rate=30\"\n    vision: {detector: motion, overlay: true}\n")
	g.waitRunning("t", 15*time.Second)

	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("e2e", "browser.mjs"), g.base, artifacts)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "VG_SOURCE=t", "VG_ADD_URL=lavfi:testsrc2=size=320x240:rate=10", "VG_SOUND_SOURCE=sound",
		"VG_CHROMIUM="+chromiumPath, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	// Chromium runs in node's process group; a timeout kills them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("e2e/browser.mjs: %v (screenshots in %s)\n%s", err, artifacts, out)
	}
	t.Logf("e2e/browser.mjs:\n%s", out)
	if m := latencyLine.FindSubmatch(out); m != nil {
		t.Logf("HLS latency reported by hls.js in Chromium: %s s", m[1])
	}
	if fps, first := webrtcFPSLine.FindSubmatch(out), webrtcFirstLine.FindSubmatch(out); fps != nil && first != nil {
		t.Logf("WebRTC in Chromium, 720p30 with a detector: %s fps, first picture %s ms after the offer", fps[1], first[1])
	}
	t.Logf("screenshot: %s", filepath.Join(artifacts, "page.png"))
}

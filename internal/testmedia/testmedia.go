// Package testmedia makes real test footage with the ffmpeg CLI (lavfi
// synthetic video), so tests need no camera and no downloads.
package testmedia

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// Clip describes a synthetic clip.
type Clip struct {
	Width, Height int
	FPS           int
	Seconds       float64
	Codec         string // libx264 (default) or libx265
	Container     string // mp4 (default), mkv, ts, h264
	GOP           int    // default: FPS
	BFrames       int
	Audio         bool // add a tone track
	// AudioCodec is the tone's ffmpeg encoder: aac (default), libopus,
	// pcm_mulaw, pcm_alaw (8 kHz mono), libmp3lame or ac3.
	AudioCodec string
}

// audioArgs are the tone's input and encoder arguments.
func audioArgs(codec string) (in, enc []string) {
	rate := "48000"
	if codec == "pcm_mulaw" || codec == "pcm_alaw" {
		rate = "8000"
	}
	in = []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=" + rate}
	enc = []string{"-c:a", codec, "-ac", "1", "-shortest"}
	return in, enc
}

// Make writes the clip into a temporary directory and returns its path.
func Make(t testing.TB, c Clip) string {
	t.Helper()
	if c.Codec == "" {
		c.Codec = "libx264"
	}
	if c.Container == "" {
		c.Container = "mp4"
	}
	if c.GOP == 0 {
		c.GOP = c.FPS
	}
	out := filepath.Join(t.TempDir(), "clip."+c.Container)
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", c.Width, c.Height, c.FPS)}
	if c.AudioCodec == "" {
		c.AudioCodec = "aac"
	}
	ain, aenc := audioArgs(c.AudioCodec)
	if c.Audio {
		args = append(args, ain...)
	}
	args = append(args, "-t", fmt.Sprintf("%g", c.Seconds), "-c:v", c.Codec, "-pix_fmt", "yuv420p",
		"-g", fmt.Sprintf("%d", c.GOP), "-bf", fmt.Sprintf("%d", c.BFrames))
	if c.Codec == "libx264" {
		args = append(args, "-preset", "ultrafast")
	} else {
		args = append(args, "-preset", "ultrafast", "-x265-params", "log-level=error")
	}
	if c.Audio {
		args = append(args, aenc...)
	}
	args = append(args, "-y", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	return out
}

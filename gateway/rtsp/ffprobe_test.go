package rtsp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/media"
)

// encodeClip makes a real 320x240 H.264 stream with the ffmpeg CLI and
// splits it into access units.
func encodeClip(t *testing.T) []*media.AccessUnit {
	t.Helper()
	// The CLIs are part of the test set-up, as in every other package.
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg CLI not found: make setup installs it")
	}
	out := filepath.Join(t.TempDir(), "clip.h264")
	cmd := exec.CommandContext(t.Context(), "ffmpeg", "-v", "error", "-f", "lavfi",
		"-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-bf", "0",
		"-g", "25", "-pix_fmt", "yuv420p", "-f", "h264", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// h264.AnnexB caps the NALU count of one unit, so split the file here.
	return splitAUs(t, media.SplitAnnexB(data, nil))
}

// splitAUs groups NALUs into access units: a unit ends before a non-VCL
// NALU or before a slice with first_mb_in_slice == 0 that follows a slice.
func splitAUs(t *testing.T, nalus [][]byte) []*media.AccessUnit {
	info := &media.StreamInfo{Codec: media.CodecH264, Width: 320, Height: 240, FPS: 25}
	var aus []*media.AccessUnit
	var cur [][]byte
	hasVCL := false
	flush := func() {
		if hasVCL {
			au := &media.AccessUnit{Info: info, NALUs: cur, IDR: h264.IsRandomAccess(cur)}
			au.PTS = int64(len(aus)) * 3600
			au.DTS = au.PTS
			aus = append(aus, au)
		}
		cur, hasVCL = nil, false
	}
	for _, n := range nalus {
		typ := h264.NALUType(n[0] & 0x1f)
		vcl := typ >= h264.NALUTypeNonIDR && typ <= h264.NALUTypeIDR
		if hasVCL && (!vcl || n[1]&0x80 != 0) {
			flush()
		}
		switch typ {
		case h264.NALUTypeSPS:
			info.SPS = n
		case h264.NALUTypePPS:
			info.PPS = n
		}
		cur = append(cur, n)
		hasVCL = hasVCL || vcl
	}
	flush()
	if len(aus) < 40 || !aus[0].IDR || info.SPS == nil {
		t.Fatalf("clip split into %d units, first IDR %v", len(aus), len(aus) > 0 && aus[0].IDR)
	}
	return aus
}

func TestFFprobe(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffprobe CLI not found: make setup installs it")
	}
	clip := encodeClip(t)
	s := startServer(t, nil)
	h := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h})

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { loop(ctx, h, clip, 10*time.Millisecond) })

	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", transport,
				"-show_streams", "rtsp://"+s.ListenAddr()+"/cam").CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			for _, want := range []string{"codec_name=h264", "width=320", "height=240"} {
				if !strings.Contains(string(out), "\n"+want+"\n") {
					t.Errorf("ffprobe output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// loop publishes the clip over and over with growing timestamps.
func loop(ctx context.Context, h *hub.Hub, clip []*media.AccessUnit, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		au := *clip[i%len(clip)]
		au.PTS = int64(i) * 3600
		au.DTS = au.PTS
		h.Publish(&au)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

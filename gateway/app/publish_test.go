package app

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/media"
)

// pushTS publishes an ffmpeg-made MPEG-TS stream straight into the broker
// (what the SRT listener does), until ctx ends.
func pushTS(t *testing.T, ctx context.Context, g *gateway, name string) <-chan error {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-c:v", "libx264", "-preset", "ultrafast",
		"-tune", "zerolatency", "-g", "25", "-f", "mpegts", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pub, err := g.publish.Publish(publish.Announce{Name: name, Protocol: publish.SRT, Remote: "test",
		Container: publish.ContainerMPEGTS})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(pub, out)
		pub.Close(err)
		done <- cmd.Wait()
	}()
	return done
}

func TestPublishedStreamPlaysAndWaits(t *testing.T) {
	g := startGateway(t, "sources:\n  - name: pushed\n    url: publish\n")
	g.waitState("pushed", "waiting", 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := pushTS(t, ctx, g, "pushed")
	g.waitRunning("pushed", 10*time.Second)
	r, err := testcam.Read(g.rtspURL("pushed"), "tcp", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkReading(t, r, 640, 360, 25, 3*time.Second)
	cancel()
	<-done
	g.waitState("pushed", "waiting", 5*time.Second)
}

// pushH264 publishes ffmpeg's H.264 as access units (what the RTSP and
// RTMP servers do), split at access unit delimiters, stamped at 25 fps.
func pushH264(t *testing.T, ctx context.Context, g *gateway, name string) <-chan error {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-c:v", "libx264", "-preset", "ultrafast",
		"-tune", "zerolatency", "-g", "25", "-x264-params", "aud=1", "-f", "h264", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pub, err := g.publish.Publish(publish.Announce{Name: name, Protocol: publish.RTMP, Remote: "test",
		Video: &media.Track{Codec: media.CodecH264, ClockRate: 90000, Width: 640, Height: 360}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := splitAUs(out, func(i int64, au []byte, key bool) error {
			return pub.WritePacket(media.Packet{PTS: i * 3600, DTS: i * 3600, Key: key, Data: au})
		})
		pub.Close(err)
		done <- cmd.Wait()
	}()
	return done
}

// splitAUs cuts an Annex B stream at its access unit delimiters.
func splitAUs(r io.Reader, emit func(i int64, au []byte, key bool) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var buf []byte
	var n int64
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		key := false
		for _, nalu := range media.SplitAnnexB(buf, nil) {
			key = key || len(nalu) > 0 && nalu[0]&0x1f == 5
		}
		err := emit(n, buf, key)
		n++
		buf = nil
		return err
	}
	chunk := make([]byte, 64<<10)
	var pending []byte
	for {
		k, err := br.Read(chunk)
		pending = append(pending, chunk[:k]...)
		for {
			i := bytes.Index(pending[min(4, len(pending)):], []byte{0, 0, 0, 1, 9})
			if i < 0 {
				break
			}
			i += min(4, len(pending))
			buf = append(buf, pending[:i]...)
			pending = pending[i:]
			if err := flush(); err != nil {
				return err
			}
		}
		if err != nil {
			return nil
		}
	}
}

func TestPublishedAccessUnitsPlay(t *testing.T) {
	g := startGateway(t, "sources:\n  - name: pushed\n    url: publish\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := pushH264(t, ctx, g, "pushed")
	st := g.waitRunning("pushed", 10*time.Second)
	if st.Publisher == nil || st.Publisher.Protocol != "rtmp" {
		t.Errorf("publisher = %+v", st.Publisher)
	}
	r, err := testcam.Read(g.rtspURL("pushed"), "tcp", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkReading(t, r, 640, 360, 25, 3*time.Second)
	cancel()
	<-done
	g.waitState("pushed", "waiting", 5*time.Second)
}

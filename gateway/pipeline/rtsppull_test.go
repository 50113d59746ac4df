package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/transcode"
)

func rtspSource(t *testing.T, url string) Options {
	t.Helper()
	cfg := config.Default()
	src := cfg.Resolve(config.Source{Name: "cam", URL: url, Transport: "tcp"})
	u, err := cfg.SourceInput(src, false)
	if err != nil {
		t.Fatal(err)
	}
	return Options{Source: src, URL: u}
}

// An RTSP camera is pulled by the Go client, which tells the picture and
// its frame rate as libav did, and carries the sound.
func TestRTSPCameraPulledByTheGoClient(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25, Audio: "pcmu"})
	o := rtspSource(t, cam.URL)
	in, err := openInput(t.Context(), o, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	_, isGo := in.(*rtspInput)
	info := in.Info()
	_, audio := in.Audio()
	in.Close()
	if !isGo || info.CodecID != astiav.CodecIDH264 || info.Width != 320 || info.Height != 240 || info.FPS != 25 || !audio {
		t.Fatalf("input %T: %+v, audio %v; want the Go client's H.264 320x240 at 25 fps with audio", in, info, audio)
	}
	o.Hub = hub.New("cam")
	p := New(o)
	r := o.Hub.Subscribe(64)
	defer r.Close()
	p.Start()
	defer func() { p.Stop(); o.Hub.Close() }()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	for range 10 {
		if _, err := r.Next(ctx); err != nil {
			t.Fatalf("reading the output: %v (stats %+v)", err, p.Stats())
		}
	}
}

// A camera whose video the Go client does not take (MJPEG) is left to
// libav.
func TestRTSPMJPEGLeftToLibav(t *testing.T) {
	url := mjpegCamera(t)
	in, err := openInput(t.Context(), rtspSource(t, url), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, ok := in.(*transcode.Input); !ok || in.Info().CodecID != astiav.CodecIDMjpeg {
		t.Fatalf("input %T, %+v; want libav's MJPEG", in, in.Info())
	}
}

// mjpegCamera serves one JPEG picture 10 times a second over RTSP/TCP.
func mjpegCamera(t *testing.T) string {
	t.Helper()
	jpeg := filepath.Join(t.TempDir(), "p.jpg")
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120", "-frames:v", "1",
		"-pix_fmt", "yuvj420p", "-y", jpeg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	pic, err := os.ReadFile(jpeg)
	if err != nil {
		t.Fatal(err)
	}
	forma := &format.MJPEG{}
	s := &mjpegServer{}
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: "127.0.0.1:0"}
	if err := s.srv.Start(); err != nil {
		t.Fatal(err)
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	s.stream = &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: []*description.Media{medi}}}
	if err := s.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	enc, err := forma.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			pkts, err := enc.Encode(pic)
			if err != nil {
				panic(err)
			}
			for _, p := range pkts {
				p.Timestamp = uint32(i * 9000)
				_ = s.stream.WritePacketRTP(medi, p)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done; s.stream.Close(); s.srv.Close() })
	return fmt.Sprintf("rtsp://%s/cam", s.srv.NetListener().Addr())
}

type mjpegServer struct {
	srv    *gortsplib.Server
	stream *gortsplib.ServerStream
}

func (s *mjpegServer) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

func (s *mjpegServer) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

func (s *mjpegServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

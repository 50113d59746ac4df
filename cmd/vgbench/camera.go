package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/visiongate/visiongate/media"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// camera is the bench camera: a gortsplib server on loopback playing an
// H.264 clip in a loop on the slot schedule and logging when each access
// unit was sent. TCP only (visiongate reads it with transport tcp).
// Without a schedule it is a plain camera: every slot filled, forever,
// nothing logged (nobody matches its frames, and the log would only grow).
type camera struct {
	URL    string
	aus    [][][]byte
	fps    int
	sched  *schedule
	log    sendLog
	server *gortsplib.Server
	stream *gortsplib.ServerStream
	stop   chan struct{}
	wg     sync.WaitGroup
}

// loadClip reads an Annex B H.264 file written with an access unit
// delimiter before every frame (x264 aud=1) and splits it into units.
func loadClip(path string) ([][][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var aus [][][]byte
	for _, n := range media.SplitAnnexB(data, nil) {
		if n[0]&0x1f == 9 { // access unit delimiter starts a new unit
			aus = append(aus, nil)
			continue
		}
		if len(aus) > 0 {
			aus[len(aus)-1] = append(aus[len(aus)-1], n)
		}
	}
	if len(aus) == 0 || len(aus[0]) < 2 || aus[0][0][0]&0x1f != 7 || aus[0][1][0]&0x1f != 8 {
		return nil, errors.New("clip must start with AUD, SPS, PPS (x264 -x264-params aud=1)")
	}
	return aus, nil
}

// startCamera starts playing at once; sched nil makes a plain camera.
func startCamera(aus [][][]byte, fps int, sched *schedule) (*camera, error) {
	c := &camera{aus: aus, fps: fps, sched: sched, stop: make(chan struct{})}
	c.server = &gortsplib.Server{Handler: c, RTSPAddress: "127.0.0.1:0"}
	if err := c.server.Start(); err != nil {
		return nil, fmt.Errorf("bench camera: %w", err)
	}
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: aus[0][0], PPS: aus[0][1]}
	c.stream = &gortsplib.ServerStream{Server: c.server, Desc: &description.Session{
		Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}}}
	if err := c.stream.Initialize(); err != nil {
		c.server.Close()
		return nil, fmt.Errorf("bench camera stream: %w", err)
	}
	c.URL = fmt.Sprintf("rtsp://%s/cam", c.server.NetListener().Addr())
	c.wg.Add(1)
	go c.play(forma)
	return c, nil
}

func (c *camera) close() {
	close(c.stop)
	c.wg.Wait()
	c.stream.Close()
	c.server.Close()
}

// play sends slot s at start + s/fps until the schedule ends (a plain
// camera: until stopped); empty slots send nothing, so the RTP clock and
// the wall clock stay together.
func (c *camera) play(forma *format.H264) {
	defer c.wg.Done()
	enc, err := forma.CreateEncoder()
	if err != nil {
		panic(err)
	}
	media := c.stream.Desc.Medias[0]
	tsBase := rand.Uint32()
	start := time.Now()
	frameDur := time.Second / time.Duration(c.fps)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for slot := 0; c.sched == nil || slot < len(c.sched.skipped); slot++ {
		au := int32(slot % len(c.aus))
		if c.sched != nil {
			if c.sched.skipped[slot] {
				continue
			}
			au = c.sched.au[slot]
		}
		timer.Reset(time.Until(start.Add(time.Duration(slot) * frameDur)))
		select {
		case <-c.stop:
			return
		case <-timer.C:
		}
		pkts, err := enc.Encode(c.aus[int(au)%len(c.aus)])
		if err != nil {
			panic(err)
		}
		ts := tsBase + uint32(int64(slot)*ticksPerSec/int64(c.fps))
		for _, p := range pkts {
			p.Timestamp = ts
			_ = c.stream.WritePacketRTP(media, p)
		}
		if c.sched != nil {
			c.log.add(sent{slot: int32(slot), au: au, at: now()})
		}
	}
	<-c.stop
}

// OnDescribe serves the one stream on /cam.
func (c *camera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Path != "/cam" {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnSetup accepts readers of the stream.
func (c *camera) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnPlay starts a reader.
func (c *camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// cmdCamera runs a plain bench camera until SIGINT or SIGTERM, for a
// script to point visiongate and the ffmpeg CLI at the same RTSP stream.
// With -url-file it writes the URL there once the camera listens (renamed
// into place, so a script waiting for the file never reads half of it).
func cmdCamera(args []string) error {
	fs := flag.NewFlagSet("camera", flag.ExitOnError)
	clip := fs.String("clip", "", "Annex B H.264 clip with AUDs (x264 aud=1)")
	fps := fs.Int("fps", 30, "frame rate (must divide 90000)")
	urlFile := fs.String("url-file", "", "file to write the camera's URL to")
	_ = fs.Parse(args)
	if *clip == "" || *fps <= 0 || ticksPerSec%*fps != 0 {
		return fmt.Errorf("camera: -clip is required and -fps must divide %d", ticksPerSec)
	}
	aus, err := loadClip(*clip)
	if err != nil {
		return err
	}
	cam, err := startCamera(aus, *fps, nil)
	if err != nil {
		return err
	}
	defer cam.close()
	if *urlFile != "" {
		if err := writeFileAtomic(*urlFile, cam.URL+"\n"); err != nil {
			return err
		}
	}
	fmt.Println(cam.URL)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}

func writeFileAtomic(path, s string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

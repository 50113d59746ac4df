package main

import (
	"errors"
	"fmt"
	"github.com/visiongate/visiongate/media"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// camera is the bench camera: a gortsplib server on loopback playing an
// H.264 clip in a loop on the slot schedule and logging when each access
// unit was sent. TCP only (visiongate reads it with transport tcp).
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

func startCamera(aus [][][]byte, fps, slots int) (*camera, error) {
	c := &camera{aus: aus, fps: fps, sched: newSchedule(slots), stop: make(chan struct{})}
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

// play sends slot s at start + s/fps until the schedule ends; empty slots
// send nothing, so the RTP clock and the wall clock stay together.
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
	for slot := range len(c.sched.skipped) {
		if c.sched.skipped[slot] {
			continue
		}
		timer.Reset(time.Until(start.Add(time.Duration(slot) * frameDur)))
		select {
		case <-c.stop:
			return
		case <-timer.C:
		}
		au := c.sched.au[slot]
		pkts, err := enc.Encode(c.aus[int(au)%len(c.aus)])
		if err != nil {
			panic(err)
		}
		ts := tsBase + uint32(int64(slot)*ticksPerSec/int64(c.fps))
		for _, p := range pkts {
			p.Timestamp = ts
			_ = c.stream.WritePacketRTP(media, p)
		}
		c.log.add(sent{slot: int32(slot), au: au, at: now()})
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

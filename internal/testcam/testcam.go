// Package testcam is a real RTSP camera for tests: a gortsplib server on
// loopback that plays an H.264 clip made with ffmpeg's lavfi, in a loop, at
// its frame rate, over TCP and UDP.
package testcam

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/visiongate/visiongate/media"
)

// Options describe the camera's picture.
type Options struct {
	Width, Height, FPS int
	// Path is the RTSP path; default "cam".
	Path string
	// SwitchWidth/SwitchHeight, when set, change the picture size after
	// one pass of the clip, as a camera reconfigured mid-stream does.
	SwitchWidth, SwitchHeight int
	// Audio adds sound: "pcmu" (G.711 µ-law, 8 kHz) or "aac" (48 kHz).
	Audio string
	// Beep flashes the picture and beeps the sound at every second, in
	// step (audio.go).
	Beep bool
}

// Camera is a running test camera.
type Camera struct {
	URL      string
	Opts     Options
	AUs      [][][]byte // one clip's access units, looped
	after    [][][]byte // the clip after a size switch, if any
	audio    *audioSource
	server   *gortsplib.Server
	stream   *gortsplib.ServerStream
	stop     chan struct{}
	rtp      int
	rtcp     int
	wg       sync.WaitGroup
	sent     atomic.Int64
	sessions atomic.Int64 // RTSP sessions open now
}

// Start encodes a two-second clip and starts serving it.
func Start(t testing.TB, o Options) *Camera {
	t.Helper()
	if o.Path == "" {
		o.Path = "cam"
	}
	c := &Camera{Opts: o, AUs: encodeClip(t, o)}
	if o.Audio != "" {
		c.audio = newAudioSource(t, o)
	}
	if o.SwitchWidth > 0 {
		c.after = encodeClip(t, Options{Width: o.SwitchWidth, Height: o.SwitchHeight, FPS: o.FPS})
	}
	c.rtp, c.rtcp = FreeUDPPair(t)
	c.serve(t, "127.0.0.1:0")
	c.URL = fmt.Sprintf("rtsp://%s/%s", c.server.NetListener().Addr(), o.Path)
	t.Cleanup(c.Close)
	return c
}

// serve starts the RTSP server and the player on addr.
func (c *Camera) serve(t testing.TB, addr string) {
	t.Helper()
	c.stop = make(chan struct{})
	c.server = &gortsplib.Server{
		Handler:        c,
		RTSPAddress:    addr,
		UDPRTPAddress:  fmt.Sprintf("127.0.0.1:%d", c.rtp),
		UDPRTCPAddress: fmt.Sprintf("127.0.0.1:%d", c.rtcp),
	}
	if err := c.server.Start(); err != nil {
		t.Fatalf("test camera: %v", err)
	}
	sps, pps := c.AUs[0][0], c.AUs[0][1]
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}
	medias := []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}
	if c.audio != nil {
		medias = append(medias, c.audio.medi)
	}
	c.stream = &gortsplib.ServerStream{Server: c.server, Desc: &description.Session{Medias: medias}}
	if err := c.stream.Initialize(); err != nil {
		t.Fatalf("test camera stream: %v", err)
	}
	c.wg.Add(1)
	go c.play(forma)
}

// Close stops the camera and disconnects its clients, as a camera that
// loses power does. Safe to call twice.
func (c *Camera) Close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.wg.Wait()
	c.stream.Close()
	c.server.Close()
}

// Restart brings a closed camera back on the same address.
func (c *Camera) Restart(t testing.TB) {
	t.Helper()
	u, err := url.Parse(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.serve(t, u.Host)
}

func (c *Camera) play(forma *format.H264) {
	defer c.wg.Done()
	enc, err := forma.CreateEncoder()
	if err != nil {
		panic(err)
	}
	media := c.stream.Desc.Medias[0]
	base, audioBase := rand.Uint32(), rand.Uint32()
	tick := time.NewTicker(time.Second / time.Duration(c.Opts.FPS))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		pkts, err := enc.Encode(c.unit(i))
		if err != nil {
			panic(err)
		}
		ts := base + uint32(i*90000/c.Opts.FPS)
		for _, p := range pkts {
			p.Timestamp = ts
			_ = c.stream.WritePacketRTP(media, p)
		}
		c.sendAudio(i, audioBase)
		c.sent.Store(int64(i + 1))
	}
}

// sendAudio sends tick i's sound, timed like its frame.
func (c *Camera) sendAudio(i int, base uint32) {
	if c.audio == nil {
		return
	}
	pkts, err := c.audio.next(i)
	if err != nil {
		panic(err)
	}
	for _, p := range pkts {
		p.Timestamp += base
		_ = c.stream.WritePacketRTP(c.audio.medi, p)
	}
}

// unit is the i-th access unit to send.
func (c *Camera) unit(i int) [][]byte {
	if c.after != nil && i >= len(c.AUs) {
		return c.after[(i-len(c.AUs))%len(c.after)]
	}
	return c.AUs[i%len(c.AUs)]
}

// OnSessionOpen counts sessions, so tests can see a reader say goodbye.
func (c *Camera) OnSessionOpen(*gortsplib.ServerHandlerOnSessionOpenCtx) { c.sessions.Add(1) }

// OnSessionClose counts sessions down.
func (c *Camera) OnSessionClose(*gortsplib.ServerHandlerOnSessionCloseCtx) { c.sessions.Add(-1) }

// Sessions is the number of RTSP sessions open on the camera.
func (c *Camera) Sessions() int64 { return c.sessions.Load() }

// OnDescribe serves the one stream on the camera's path.
func (c *Camera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Path != "/"+c.Opts.Path {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnSetup accepts readers of the stream.
func (c *Camera) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnPlay starts a reader.
func (c *Camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// encodeClip makes a 2 s H.264 clip with an access unit delimiter before
// each frame, so splitting into access units needs no slice parsing.
func encodeClip(t testing.TB, o Options) [][][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "cam.h264")
	src := fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", o.Width, o.Height, o.FPS)
	if o.Beep { // the first frame of every second is white
		src += fmt.Sprintf(`,drawbox=c=white:t=fill:enable='lt(mod(n\,%d)\,1)'`, o.FPS)
	}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", src, "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-g", fmt.Sprint(o.FPS), "-bf", "0", "-x264-params", "aud=1", "-f", "h264", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
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
	if len(aus) == 0 || aus[0][0][0]&0x1f != 7 {
		t.Fatalf("clip does not start with SPS")
	}
	return aus
}

// FreeUDPPair finds an even/odd pair of free UDP ports, as RTSP servers
// need for RTP and RTCP.
func FreeUDPPair(t testing.TB) (int, int) {
	t.Helper()
	for range 100 {
		p := 20000 + 2*rand.IntN(20000)
		a, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p, p + 1
	}
	t.Fatal("no free UDP port pair")
	return 0, 0
}

// Sent is how many access units the camera has sent.
func (c *Camera) Sent() int64 { return c.sent.Load() }

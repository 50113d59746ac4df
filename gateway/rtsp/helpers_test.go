package rtsp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/media"
)

// Parameter sets of a 1280x720 High profile stream (from mediacommon's SPS
// tests) and a matching PPS. Slices are fake: RTP does not look inside.
var (
	testSPS  = []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6c, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07, 0x8c, 0x18, 0xcb}
	testPPS  = []byte{0x68, 0xee, 0x3c, 0x80}
	testInfo = &media.StreamInfo{Codec: media.CodecH264, Width: 1280, Height: 720, FPS: 25, SPS: testSPS, PPS: testPPS}
)

// synth makes H.264 access units: an IDR every gop units, PTS at 25 fps.
type synth struct {
	info *media.StreamInfo
	gop  int
	size int // bytes per slice NALU; > 1450 forces FU-A fragmentation
	n    int
}

func (s *synth) next() *media.AccessUnit {
	idr := s.n%s.gop == 0
	nalu := bytes.Repeat([]byte{byte(s.n) | 1}, s.size)
	nalu[0] = 0x41 // non-IDR slice
	if idr {
		nalu[0] = 0x65
	}
	au := &media.AccessUnit{Info: s.info, NALUs: [][]byte{nalu}, PTS: int64(s.n) * 3600, IDR: idr}
	au.DTS = au.PTS
	s.n++
	return au
}

func newSynth() *synth { return &synth{info: testInfo, gop: 25, size: 3000} }

// publish sends n units of s to h, one every interval.
func publish(h *hub.Hub, s *synth, n int, interval time.Duration) {
	for range n {
		h.Publish(s.next())
		if interval > 0 {
			time.Sleep(interval)
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// servingCam starts a server with the path "cam" attached to a new hub
// that already holds its first unit, an IDR: the path has a stream from
// then on.
func servingCam(t *testing.T, mod func(*Server)) (*Server, *hub.Hub, *synth) {
	t.Helper()
	s := startServer(t, mod)
	h := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h})
	src := newSynth()
	h.Publish(src.next())
	return s, h, src
}

// startServer starts a server on loopback with a dynamic UDP pair.
func startServer(t *testing.T, mod func(*Server)) *Server {
	t.Helper()
	s := &Server{Addr: "127.0.0.1:0", UDPRTPAddress: "127.0.0.1:0", Log: testLogger(t)}
	if mod != nil {
		mod(s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func pathURL(t *testing.T, s *Server, p string) *base.URL {
	t.Helper()
	u, err := base.ParseURL("rtsp://" + s.ListenAddr() + "/" + p)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newClient(t *testing.T, s *Server, proto gortsplib.Protocol) *gortsplib.Client {
	t.Helper()
	c := &gortsplib.Client{
		Scheme:        "rtsp",
		Host:          s.ListenAddr(),
		Protocol:      &proto,
		ReadTimeout:   5 * time.Second,
		OnPacketsLost: func(uint64) {},
		OnDecodeError: func(error) {},
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// statusCode extracts the RTSP status of a client error, or 0.
func statusCode(err error) base.StatusCode {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return bad.Code
	}
	return 0
}

// receiver collects the access units a client decodes.
type receiver struct {
	mu        sync.Mutex
	count     int
	first     [][]byte
	lastTS    uint32
	monotonic bool
}

func (r *receiver) units() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// play describes, sets up and plays path p, feeding a receiver.
func play(t *testing.T, c *gortsplib.Client, u *base.URL) (*receiver, *format.H264) {
	t.Helper()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		t.Fatalf("no H264 in SDP: %+v", desc)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	r := &receiver{monotonic: true}
	r.attach(t, c, medi, forma) // after SETUP: gortsplib needs the media set up
	if _, err := c.Play(nil); err != nil {
		t.Fatalf("Play: %v", err)
	}
	return r, forma
}

func (r *receiver) attach(t *testing.T, c *gortsplib.Client, medi *description.Media, forma *format.H264) {
	dec, err := forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			if !errors.Is(err, rtph264.ErrMorePacketsNeeded) {
				t.Logf("decode: %v", err)
			}
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.count == 0 {
			r.first = au
		} else if int32(pkt.Timestamp-r.lastTS) <= 0 {
			r.monotonic = false
		}
		r.lastTS = pkt.Timestamp
		r.count++
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitClosed waits for a client to be disconnected and returns its error.
func waitClosed(t *testing.T, c *gortsplib.Client) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- c.Wait() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("client was not disconnected")
		return nil
	}
}

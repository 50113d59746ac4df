package rtmp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/visiongate/visiongate/gateway/publish"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestGarbage: whatever a client sends, the server drops it and goes on
// serving.
func TestGarbage(t *testing.T) {
	env := startServer(t, newBroker(nil, open), func(s *Server) { s.ReadTimeout = 500 * time.Millisecond })
	chunkBomb := append([]byte{0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0x14, 0, 0, 0, 0}, make([]byte, 128)...)
	for _, tc := range []struct {
		name      string
		handshake bool
		data      []byte
	}{
		{"random bytes", false, randomBytes(1, 64<<10)},
		{"RTMP version then random bytes", false, append([]byte{3}, randomBytes(2, 64<<10)...)},
		{"truncated handshake", false, append([]byte{3}, randomBytes(3, 700)...)},
		{"random chunks", true, randomBytes(4, 64<<10)},
		{"16 MB message", true, chunkBomb},
		{"nothing", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", env.srv.ListenAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(waitTimeout)) //nolint:errcheck
			if tc.handshake {
				if _, _, err := handshake.DoClient(nc, false, false); err != nil {
					t.Fatal(err)
				}
			}
			nc.Write(tc.data) //nolint:errcheck // the server may close first
			expectClosed(t, nc)
		})
	}
	sk := startSink(t, env.broker, "cam1")
	if _, err := publishH264(t, env, "cam1"); err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "a publisher after the garbage", func(s *sink) bool { return len(s.video) >= 60 })
}

// TestStalledPublisher: a publisher that stops sending is dropped after
// ReadTimeout, whether before or after its tracks.
func TestStalledPublisher(t *testing.T) {
	const timeout = 500 * time.Millisecond
	env := startServer(t, newBroker(nil, open), func(s *Server) { s.ReadTimeout = timeout })
	sk := startSink(t, env.broker, "cam1")

	nc, err := net.Dial("tcp", env.srv.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	if _, _, err := handshake.DoClient(nc, false, false); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, nc)
	if d := time.Since(start); d < timeout {
		t.Errorf("dropped after %v, before ReadTimeout", d)
	}
	env.log.waitErr(t, os.ErrDeadlineExceeded)

	c, err := publishH264(t, env, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "the publisher, then its end", func(s *sink) bool { return len(s.ends) == 1 })
	expectClosed(t, c.c.NetConn())
	env.log.waitErr(t, os.ErrDeadlineExceeded)
}

// TestHugePicture: a 16384x16384 SPS is refused, in the sequence header
// and in band.
func TestHugePicture(t *testing.T) {
	huge := makeSPS(1024, 1024, 0)
	if w, h, err := h264Size(huge); err == nil {
		t.Fatalf("h264Size took %dx%d", w, h)
	}
	env := startServer(t, newBroker(nil, open), nil)
	sk := startSink(t, env.broker, "cam1")
	c, err := dial(t, env, "cam1", &gortmplib.Track{Codec: &codecs.H264{SPS: huge, PPS: testPPS}})
	if err != nil {
		t.Fatal(err)
	}
	c.sendH264(0, 90) //nolint:errcheck // the server may close first
	env.log.waitErr(t, publish.ErrBadStream)
	expectClosed(t, c.c.NetConn())

	c, err = publishH264(t, env, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "a publisher", func(s *sink) bool { return len(s.pubs) == 1 })
	c.w.WriteH264(c.tracks[0], 3*time.Second, 3*time.Second, [][]byte{huge, testPPS, testIDR}) //nolint:errcheck
	sk.waitFor(t, "its end", func(s *sink) bool { return len(s.ends) == 1 })
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if err := sk.pubs[0].Err(); !errors.Is(err, publish.ErrBadStream) {
		t.Errorf("publisher ended with %v", err)
	}
	for _, pk := range sk.video {
		if bytes.Contains(pk.Data, huge) {
			t.Fatal("the huge SPS reached the source")
		}
	}
}

// TestLibraryPanic: an H.265 sequence header on an H.264 stream makes
// gortmplib dereference nil; that connection ends, the server goes on.
func TestLibraryPanic(t *testing.T) {
	env := startServer(t, newBroker(nil, open), nil)
	sk := startSink(t, env.broker, "cam1")
	c, err := publishH264(t, env, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "a publisher", func(s *sink) bool { return len(s.pubs) == 1 })
	err = c.c.Write(&message.Video{ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: 0x1000000,
		Codec: message.CodecH265, Type: message.VideoTypeConfig, DTS: 4 * time.Second, HEVCConfig: testHvcC()})
	if err != nil {
		t.Fatal(err)
	}
	env.log.waitErr(t, ErrMalformed)
	expectClosed(t, c.c.NetConn())
	if _, err := publishH264(t, env, "cam1"); err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "a second publisher", func(s *sink) bool { return len(s.pubs) == 2 })
}

func testHvcC() *mp4.HvcC {
	arr := func(typ byte, n []byte) mp4.HEVCNaluArray {
		return mp4.HEVCNaluArray{NaluType: typ, NumNalus: 1,
			Nalus: []mp4.HEVCNalu{{Length: uint16(len(n)), NALUnit: n}}}
	}
	return &mp4.HvcC{ConfigurationVersion: 1, LengthSizeMinusOne: 3, NumOfNaluArrays: 3,
		NaluArrays: []mp4.HEVCNaluArray{arr(32, testH265VPS), arr(33, testH265SPS), arr(34, testH265PPS)}}
}

func TestUnsupportedVideo(t *testing.T) {
	env := startServer(t, newBroker(nil, open), nil)
	tr := &gortmplib.Track{Codec: &codecs.VP9{}}
	c, err := dial(t, env, "cam1", tr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 90 {
		if err := c.w.WriteVP9(tr, time.Duration(i)*time.Second/30, []byte{0x82, 0x49, 0x83}); err != nil {
			break // closed by the server
		}
	}
	e := env.log.waitErr(t, publish.ErrBadStream)
	if !bytes.Contains([]byte(e.err.Error()), []byte("vp9")) {
		t.Errorf("refusal %v does not name the codec", e.err)
	}
}

// TestEndlessSetup: a client that keeps talking without ever sending two
// seconds of media is dropped once the set-up has had its time.
func TestEndlessSetup(t *testing.T) {
	const timeout = time.Second
	env := startServer(t, newBroker(nil, open), func(s *Server) { s.ReadTimeout = timeout })
	u, _ := url.Parse("rtmp://" + env.srv.ListenAddr() + "/cam1")
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	tick := time.NewTicker(timeout / 10)
	defer tick.Stop()
	for range tick.C { // metadata, well within ReadTimeout each time
		err := c.Write(&message.DataAMF0{ChunkStreamID: 4, MessageStreamID: 0x1000000,
			Payload: []any{"@setDataFrame", "onMetaData", amf0.Object{{Key: "width", Value: float64(640)}}}})
		if err != nil || time.Since(start) > waitTimeout {
			break
		}
	}
	if d := time.Since(start); d < setupSlack || d > waitTimeout {
		t.Errorf("dropped after %v; the set-up may last %v", d, timeout+setupSlack)
	}
	env.log.waitErr(t, os.ErrDeadlineExceeded)
}

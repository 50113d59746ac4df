package rtmp

import (
	"bytes"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

var open = map[string]publish.Policy{"cam1": {}}

func TestPublishH264AAC(t *testing.T) {
	env := startServer(t, newBroker(nil, open), nil)
	sk := startSink(t, env.broker, "cam1")
	if _, err := publishH264(t, env, "cam1", testH264Track(), testAACTrack()); err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "60 video and 60 audio packets", func(s *sink) bool {
		return len(s.video) >= 60 && len(s.audio) >= 60
	})
	sk.mu.Lock()
	defer sk.mu.Unlock()
	info := sk.pubs[0].Info()
	checkVideoTrack(t, info.Video, media.CodecH264, 640, 360, annexB(nil, testSPS, testPPS))
	a := info.Audio
	if a == nil || a.Codec != media.CodecAAC || a.ClockRate != 48000 || a.SampleRate != 48000 || a.Channels != 2 ||
		!bytes.Equal(a.Config, []byte{0x11, 0x90}) {
		t.Fatalf("audio track %+v", a)
	}
	if info.Protocol != publish.RTMP || !strings.HasPrefix(info.Remote, "127.0.0.1:") {
		t.Errorf("info %+v", info)
	}
	for i, pk := range sk.video[:60] {
		want := annexB(nil, testSlice)
		if i%30 == 0 {
			want = annexB(nil, testSPS, testPPS, testIDR)
		}
		if pk.Audio || pk.Key != (i%30 == 0) || pk.PTS != frameTS(i, 90000) || pk.DTS != pk.PTS || !bytes.Equal(pk.Data, want) {
			t.Fatalf("video packet %d: %+v", i, pk)
		}
	}
	for i, pk := range sk.audio[:60] {
		if !pk.Audio || pk.PTS != frameTS(i, 48000) || !bytes.Equal(pk.Data, testAAC) {
			t.Fatalf("audio packet %d: %+v", i, pk)
		}
	}
}

// frameTS is frame i's timestamp at 30 fps in a clock: RTMP carries
// whole milliseconds.
func frameTS(i int, rate int64) int64 { return int64(i) * 1000 / 30 * rate / 1000 }

func checkVideoTrack(t *testing.T, v *media.Track, codec media.Codec, w, h int, config []byte) {
	t.Helper()
	if v == nil || v.Codec != codec || v.ClockRate != media.ClockRate || v.Width != w || v.Height != h {
		t.Fatalf("video track %+v, want %s %dx%d", v, codec, w, h)
	}
	if config != nil && !bytes.Equal(v.Config, config) {
		t.Fatalf("video config %x, want %x", v.Config, config)
	}
}

func TestPublishH265(t *testing.T) {
	env := startServer(t, newBroker(nil, open), nil)
	sk := startSink(t, env.broker, "cam1")
	tr := &gortmplib.Track{Codec: &codecs.H265{VPS: testH265VPS, SPS: testH265SPS, PPS: testH265PPS}}
	c, err := dial(t, env, "cam1", tr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 90 {
		ts := time.Duration(i) * time.Second / 30
		nalu := []byte{0x02, 0x01, 0xd0, 0x09} // TRAIL_R
		if i%30 == 0 {
			nalu = testH265IDR
		}
		if err := c.w.WriteH265(tr, ts, ts, [][]byte{nalu}); err != nil {
			t.Fatal(err)
		}
	}
	sk.waitFor(t, "30 video packets", func(s *sink) bool { return len(s.video) >= 30 })
	sk.mu.Lock()
	defer sk.mu.Unlock()
	checkVideoTrack(t, sk.pubs[0].Info().Video, media.CodecH265, 1280, 720,
		annexB(nil, testH265VPS, testH265SPS, testH265PPS))
	want := annexB(nil, testH265VPS, testH265SPS, testH265PPS, testH265IDR)
	if pk := sk.video[0]; !pk.Key || !bytes.Equal(pk.Data, want) {
		t.Fatalf("first H.265 packet %+v", pk)
	}
	if pk := sk.video[1]; pk.Key || pk.DTS != frameTS(1, 90000) {
		t.Fatalf("second H.265 packet %+v", pk)
	}
}

func TestLivePathAndCredentials(t *testing.T) {
	users := []publish.Credentials{{User: "u", Pass: "p&+x"}}
	env := startServer(t, newBroker(users, open), nil)
	sk := startSink(t, env.broker, "cam1")
	if _, err := publishH264(t, env, "live/cam1?user=u&pass=p%26+x"); err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "a publisher", func(s *sink) bool { return len(s.video) > 0 })
}

// TestRefusals: each refusal reaches the client as an onStatus error,
// and the log says why, with the address.
func TestRefusals(t *testing.T) {
	users := []publish.Credentials{{User: "u", Pass: "p"}}
	for _, tc := range []struct {
		name, path string
		play       bool
		err        error
		code       string
	}{
		{"wrong password", "cam1?user=u&pass=x", false, publish.ErrUnauthorized, "NetStream.Publish.Unauthorized"},
		{"no credentials", "cam1", false, publish.ErrUnauthorized, "NetStream.Publish.Unauthorized"},
		{"unknown source", "cam2?user=u&pass=p", false, publish.ErrNoSource, "NetStream.Publish.BadName"},
		{"bad path", "a/b/c?user=u&pass=p", false, ErrBadPath, "NetStream.Publish.BadName"},
		{"play", "cam1?user=u&pass=p", true, ErrPlayRefused, "NetStream.Play.Failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := startServer(t, newBroker(users, open), nil)
			u, _ := url.Parse("rtmp://" + env.srv.ListenAddr() + "/" + tc.path)
			c := &gortmplib.Client{URL: u, Publish: !tc.play}
			err := c.Initialize(t.Context())
			if err == nil {
				c.Close()
				t.Fatal("the server accepted")
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Errorf("client error %v, want %s", err, tc.code)
			}
			e := env.log.waitErr(t, tc.err)
			if !strings.HasPrefix(e.attrs["remote"], "127.0.0.1:") {
				t.Errorf("log record %+v has no remote address", e)
			}
		})
	}
}

func TestBusy(t *testing.T) {
	env := startServer(t, newBroker(nil, open), nil)
	sk := startSink(t, env.broker, "cam1")
	first, err := publishH264(t, env, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "the first publisher", func(s *sink) bool { return len(s.pubs) == 1 })
	publishH264(t, env, "cam1") //nolint:errcheck // refused after its tracks: the log says so
	env.log.waitErr(t, publish.ErrBusy)
	if err := first.sendH264(90, 30); err != nil {
		t.Fatalf("the first publisher was cut: %v", err)
	}
	sk.waitFor(t, "the first publisher's later frames", func(s *sink) bool {
		return len(s.pubs) == 1 && len(s.video) >= 120
	})
}

func TestTakeover(t *testing.T) {
	// A long ReadTimeout: only the takeover may close the first publisher.
	env := startServer(t, newBroker(nil, map[string]publish.Policy{"cam1": {Override: true}}),
		func(s *Server) { s.ReadTimeout = time.Hour })
	sk := startSink(t, env.broker, "cam1")
	first, err := publishH264(t, env, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	// All its frames read: its connection idles, only the takeover may end it.
	sk.waitFor(t, "the first publisher", func(s *sink) bool { return len(s.video) == 90 })
	if _, err := publishH264(t, env, "cam1"); err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "the second publisher", func(s *sink) bool { return len(s.pubs) == 2 })
	env.log.waitErr(t, publish.ErrTakenOver)
	expectClosed(t, first.c.NetConn())
}

// expectClosed waits for the server to close the client's connection.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(waitTimeout)) //nolint:errcheck
	buf := make([]byte, 4096)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server left the connection open")
		}
		return
	}
}

func TestTooManyConnections(t *testing.T) {
	b := publish.New(publish.Options{MaxConnections: 1,
		Lookup: func(string) (publish.Policy, bool) { return publish.Policy{}, true }})
	env := startServer(t, b, nil)
	if _, err := publishH264(t, env, "cam1"); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", env.srv.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expectClosed(t, nc)
	env.log.waitErr(t, publish.ErrTooMany)
}

// TestCloseEndsPublishers: Close ends the publishers and the goroutines
// (startServer's cleanup checks those).
func TestCloseEndsPublishers(t *testing.T) {
	env := startServer(t, newBroker(nil, open), nil)
	sk := startSink(t, env.broker, "cam1")
	c, err := publishH264(t, env, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "a publisher", func(s *sink) bool { return len(s.pubs) == 1 })
	env.srv.Close()
	sk.waitFor(t, "the publisher's end", func(s *sink) bool { return len(s.ends) == 1 })
	expectClosed(t, c.c.NetConn())
	if _, err := net.Dial("tcp", env.srv.ListenAddr()); err == nil {
		t.Error("still listening after Close")
	}
	if err := env.srv.Start(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestListenHook(t *testing.T) {
	called := false
	env := startServer(t, newBroker(nil, open), func(s *Server) {
		s.Listen = func(network, addr string) (net.Listener, error) {
			called = true
			return net.Listen(network, addr)
		}
	})
	if !called || env.srv.ListenAddr() == "" || strings.HasSuffix(env.srv.ListenAddr(), ":0") {
		t.Fatalf("Listen hook called %v, address %q", called, env.srv.ListenAddr())
	}
	if err := env.srv.Start(); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start: %v", err)
	}
	if err := (&Server{Addr: "127.0.0.1:0"}).Start(); !errors.Is(err, ErrNoBroker) {
		t.Errorf("Start without a broker: %v", err)
	}
}

func TestListenerFailure(t *testing.T) {
	var ln net.Listener
	failed := make(chan error, 1)
	env := startServer(t, newBroker(nil, open), func(s *Server) {
		s.Listen = func(network, addr string) (net.Listener, error) {
			var err error
			ln, err = net.Listen(network, addr)
			return ln, err
		}
		s.OnFail = func(err error) { failed <- err }
	})
	ln.Close() // behind the server's back
	select {
	case err := <-failed:
		if !errors.Is(err, net.ErrClosed) || !errors.Is(env.srv.Err(), net.ErrClosed) {
			t.Errorf("OnFail %v, Err %v", err, env.srv.Err())
		}
	case <-time.After(waitTimeout):
		t.Fatal("OnFail was not called")
	}
}

func TestSourceRemoved(t *testing.T) {
	env := startServer(t, newBroker(nil, open), func(s *Server) { s.ReadTimeout = time.Hour })
	sk := startSink(t, env.broker, "cam1")
	c, err := publishH264(t, env, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	sk.waitFor(t, "all the frames", func(s *sink) bool { return len(s.video) == 90 })
	env.broker.Remove("cam1")
	expectClosed(t, c.c.NetConn())
	env.log.waitErr(t, publish.ErrSourceGone)
}

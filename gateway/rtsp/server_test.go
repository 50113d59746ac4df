package rtsp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/media"
)

func TestPlay(t *testing.T) {
	for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
		t.Run(proto.String(), func(t *testing.T) {
			s, h, src := servingCam(t, nil) // first IDR: the stream exists from here on

			c := newClient(t, s, proto)
			r, forma := play(t, c, pathURL(t, s, "cam"))
			if !bytes.Equal(forma.SPS, testSPS) || !bytes.Equal(forma.PPS, testPPS) {
				t.Errorf("SDP parameter sets = %x %x", forma.SPS, forma.PPS)
			}
			if got := c.Transport().Session.Protocol; got != proto {
				t.Fatalf("transport = %v, want %v", got, proto)
			}
			waitFor(t, "reader count", func() bool { return s.Readers("cam") == 1 })

			src.n = 0 // restart at an IDR so the reader starts cleanly
			const n = 200
			publish(h, src, n, 2*time.Millisecond)
			waitFor(t, "80% of the units", func() bool { return r.units() >= n*8/10 })

			r.mu.Lock()
			if !r.monotonic {
				t.Error("RTP timestamps not monotonic")
			}
			if !h264.IsRandomAccess(r.first) || !bytes.Equal(r.first[0], testSPS) {
				t.Errorf("first unit does not start with SPS + IDR: %d NALUs", len(r.first))
			}
			r.mu.Unlock()

			c.Close()
			waitFor(t, "reader gone", func() bool { return s.Readers("cam") == 0 })
		})
	}
}

func TestDescribeWaitsForFirstIDR(t *testing.T) {
	s := startServer(t, nil)
	h := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h})
	c := newClient(t, s, gortsplib.ProtocolTCP)

	type result struct {
		desc *description.Session
		err  error
	}
	done := make(chan result, 1)
	go func() {
		desc, _, err := c.Describe(pathURL(t, s, "cam"))
		done <- result{desc, err}
	}()
	p := s.lookup("cam")
	waitFor(t, "DESCRIBE waiting", func() bool { return p.waiters.Load() == 1 })
	src := newSynth()
	h.Publish(&media.AccessUnit{Info: testInfo, NALUs: [][]byte{{0x41, 1}}}) // not an IDR: still waiting
	h.Publish(src.next())
	res := <-done
	if res.err != nil {
		t.Fatalf("Describe: %v", res.err)
	}
	var forma *format.H264
	if res.desc.FindFormat(&forma) == nil || !bytes.Equal(forma.SPS, testSPS) {
		t.Errorf("SDP lacks the SPS: %+v", res.desc)
	}
}

func TestDescribeTimeout(t *testing.T) {
	s := startServer(t, func(s *Server) { s.DescribeTimeout = 50 * time.Millisecond })
	s.Attach(output.Source{Name: "cam", Units: hub.New("cam")})
	c := newClient(t, s, gortsplib.ProtocolTCP)
	_, _, err := c.Describe(pathURL(t, s, "cam"))
	if code := statusCode(err); code != base.StatusServiceUnavailable {
		t.Errorf("Describe = %v, want 503", err)
	}
}

func TestPaths(t *testing.T) {
	s, _, _ := servingCam(t, nil)
	cases := []struct {
		path string
		want base.StatusCode
	}{
		{"cam", base.StatusOK},
		{"cam/", base.StatusOK},
		{"cam?token=x", base.StatusOK},
		{"cam/?token=x", base.StatusOK},
		{"nope", base.StatusNotFound},
		{"", base.StatusNotFound},
		{"cam/sub", base.StatusNotFound},
		{"ca.m", base.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			c := newClient(t, s, gortsplib.ProtocolTCP)
			_, res, err := c.Describe(pathURL(t, s, tc.path))
			got := statusCode(err)
			if err == nil {
				got = res.StatusCode
			}
			if got != tc.want {
				t.Errorf("DESCRIBE %q = %v (%v), want %d", tc.path, got, err, tc.want)
			}
		})
	}
}

func TestPathName(t *testing.T) {
	cases := map[string]string{
		"/cam1": "cam1", "cam1/": "cam1", "/cam1?x=1": "cam1", "/a_b-C9": "a_b-C9",
		"/a/b": "", "/": "", "/" + string(bytes.Repeat([]byte{'a'}, 65)): "", "/é": "",
	}
	for in, want := range cases {
		if got := pathName(in); got != want {
			t.Errorf("pathName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDetach(t *testing.T) {
	s, h, _ := servingCam(t, nil)
	c := newClient(t, s, gortsplib.ProtocolTCP)
	play(t, c, pathURL(t, s, "cam"))
	waitFor(t, "reader", func() bool { return s.Readers("cam") == 1 })

	s.Detach("cam")
	if err := waitClosed(t, c); !errors.Is(err, io.EOF) {
		t.Errorf("client ended with %v, want EOF (closed by the server at Detach)", err)
	}
	if h.Readers() != 0 {
		t.Errorf("hub still has %d readers", h.Readers())
	}
	if s.Readers("cam") != 0 {
		t.Error("Readers after Detach")
	}
	c2 := newClient(t, s, gortsplib.ProtocolTCP)
	if _, _, err := c2.Describe(pathURL(t, s, "cam")); statusCode(err) != base.StatusNotFound {
		t.Errorf("Describe after Detach = %v, want 404", err)
	}
	s.Detach("cam") // twice is fine
}

func TestHubClosedEndsPath(t *testing.T) {
	s, h, _ := servingCam(t, nil)
	c := newClient(t, s, gortsplib.ProtocolTCP)
	play(t, c, pathURL(t, s, "cam"))
	h.Close()
	// EOF: the server hung up. A client that gave up on its own (read
	// timeout, no packets) ends with another error.
	if err := waitClosed(t, c); !errors.Is(err, io.EOF) {
		t.Errorf("client ended with %v, want EOF (closed by the server)", err)
	}
	c2 := newClient(t, s, gortsplib.ProtocolTCP)
	if _, _, err := c2.Describe(pathURL(t, s, "cam")); statusCode(err) != base.StatusNotFound {
		t.Errorf("Describe after hub Close = %v, want 404", err)
	}
}

func TestParameterChange(t *testing.T) {
	s, h, src := servingCam(t, nil)
	c := newClient(t, s, gortsplib.ProtocolTCP)
	r, _ := play(t, c, pathURL(t, s, "cam"))

	// Same codec and size, new SPS: the reader stays, DESCRIBE shows it.
	sps2 := append([]byte(nil), testSPS...)
	sps2[len(sps2)-1] ^= 0x10
	info2 := *testInfo
	info2.SPS = sps2
	src.info, src.n = &info2, 0
	publish(h, src, 5, 0)
	waitFor(t, "units after reload", func() bool { return r.units() >= 3 })
	if sps := describeSPS(t, s); !bytes.Equal(sps, sps2) {
		t.Errorf("SDP SPS after reload = %x, want %x", sps, sps2)
	}

	// New size: the stream is rebuilt and its reader disconnected.
	info3 := info2
	info3.Width = 640
	src.info, src.n = &info3, 0
	publish(h, src, 1, 0)
	if err := waitClosed(t, c); !errors.Is(err, io.EOF) {
		t.Errorf("old reader ended with %v, want EOF (closed by the server)", err)
	}
	waitFor(t, "new stream", func() bool { return s.lookup("cam").currentStream() != nil })
	// The server forgets the session after the client saw the hang-up.
	waitFor(t, "the old reader to be uncounted", func() bool { return s.Readers("cam") == 0 })
}

func describeSPS(t *testing.T, s *Server) []byte {
	t.Helper()
	c := newClient(t, s, gortsplib.ProtocolTCP)
	defer c.Close()
	desc, _, err := c.Describe(pathURL(t, s, "cam"))
	if err != nil {
		t.Fatal(err)
	}
	var forma *format.H264
	desc.FindFormat(&forma)
	return forma.SPS
}

func TestRecordRefused(t *testing.T) {
	s := startServer(t, nil)
	c := &gortsplib.Client{}
	desc := &description.Session{Medias: []*description.Media{{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: testSPS, PPS: testPPS}},
	}}}
	err := c.StartRecording("rtsp://"+s.ListenAddr()+"/cam", desc)
	if err == nil {
		c.Close()
		t.Fatal("publishing was accepted")
	}
	if code := statusCode(err); code != base.StatusNotImplemented {
		t.Errorf("ANNOUNCE = %v, want 501", err)
	}
}

func TestUDP(t *testing.T) {
	t.Run("dynamic pair", func(t *testing.T) {
		s := startServer(t, nil)
		rtpAddr, rtcpAddr := s.UDPAddrs()
		rp, cp := port(t, rtpAddr), port(t, rtcpAddr)
		if rp%2 != 0 || cp != rp+1 {
			t.Errorf("UDP ports %d/%d, want even/next", rp, cp)
		}
	})
	t.Run("fixed pair", func(t *testing.T) {
		probe := &Server{Addr: "127.0.0.1:0", UDPRTPAddress: "127.0.0.1:0"}
		if err := probe.Start(); err != nil {
			t.Fatal(err)
		}
		rtpAddr, rtcpAddr := probe.UDPAddrs()
		probe.Close() // frees a pair known to be bindable
		s := startServer(t, func(s *Server) { s.UDPRTPAddress, s.UDPRTCPAddress = rtpAddr, rtcpAddr })
		if a, b := s.UDPAddrs(); a != rtpAddr || b != rtcpAddr {
			t.Errorf("UDPAddrs = %s %s, want %s %s", a, b, rtpAddr, rtcpAddr)
		}
	})
	t.Run("odd pair refused", func(t *testing.T) {
		s := &Server{Addr: "127.0.0.1:0", UDPRTPAddress: "127.0.0.1:8001", UDPRTCPAddress: "127.0.0.1:8002"}
		if err := s.Start(); err == nil {
			s.Close()
			t.Error("odd RTP port accepted")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		s, _, _ := servingCam(t, func(s *Server) { s.UDPRTPAddress = "" })
		c := newClient(t, s, gortsplib.ProtocolUDP)
		desc, _, err := c.Describe(pathURL(t, s, "cam"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Setup(desc.BaseURL, desc.Medias[0], 0, 0)
		if code := statusCode(err); code != base.StatusUnsupportedTransport {
			t.Errorf("UDP SETUP = %v, want 461", err)
		}
	})
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAttachBeforeStartAndReplace(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:0"}
	h1 := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h1})
	s.Attach(output.Source{Name: "bad/name", Units: hub.New("x")}) // ignored
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "path subscribed", func() bool { return h1.Readers() == 1 })
	p := s.lookup("cam")
	s.Attach(output.Source{Name: "cam", Units: h1}) // same hub: kept
	if s.lookup("cam") != p {
		t.Error("re-attaching the same hub replaced the path")
	}
	h2 := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h2})
	if h1.Readers() != 0 {
		t.Error("replaced hub still read")
	}
	waitFor(t, "new hub subscribed", func() bool { return h2.Readers() == 1 })
	if s.lookup("bad/name") != nil {
		t.Error("invalid name attached")
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		s := &Server{Addr: "127.0.0.1:0", UDPRTPAddress: "127.0.0.1:0"}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h := hub.New("cam")
		s.Attach(output.Source{Name: "cam", Units: h})
		s.Attach(output.Source{Name: "idle", Units: hub.New("idle")})
		h.Publish(newSynth().next())
		c := newClient(t, s, gortsplib.ProtocolUDP)
		play(t, c, pathURL(t, s, "cam"))
		c2 := newClient(t, s, gortsplib.ProtocolTCP)
		go c2.Describe(pathURL(t, s, "idle")) // blocked in the DESCRIBE wait at Close
		waitFor(t, "waiting DESCRIBE", func() bool { return s.lookup("idle").waiters.Load() == 1 })
		s.Close()
		if err := waitClosed(t, c); !errors.Is(err, io.EOF) {
			t.Errorf("reader ended with %v, want EOF (closed by the server)", err)
		}
		c2.Close()
		s.Attach(output.Source{Name: "late", Units: h}) // no-op after Close
	}()
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

func TestStartErrors(t *testing.T) {
	s := startServer(t, nil)
	busy := &Server{Addr: s.ListenAddr(), UDPRTPAddress: "127.0.0.1:0"}
	if err := busy.Start(); err == nil {
		busy.Close()
		t.Fatal("Start on a busy address succeeded")
	}
	busy.Close()
	if err := busy.Start(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start after Close = %v, want ErrServerClosed", err)
	}
	if err := s.Start(); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start = %v, want ErrAlreadyStarted", err)
	}
	bad := &Server{Addr: "127.0.0.1:0", UDPRTPAddress: "nonsense"}
	if err := bad.Start(); err == nil {
		bad.Close()
		t.Error("bad UDP address accepted")
	}
}

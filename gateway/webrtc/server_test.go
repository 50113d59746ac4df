package webrtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/media"
)

// wantPlaying waits for c's first unit, which must come within 1.5 s of
// the offer and be an IDR with its parameter sets, then for c to keep up
// with the source for two seconds.
func wantPlaying(t *testing.T, p *publisher, c *client) {
	t.Helper()
	waitFor(t, "the first unit", 10*time.Second, func() bool { _, _, ok := c.firstFrame(); return ok })
	at, nalus, _ := c.firstFrame()
	if d := at.Sub(c.offered); d > 1500*time.Millisecond {
		t.Errorf("first unit %v after the offer, want <= 1.5s", d)
	}
	for _, typ := range []int{media.H264NALSPS, media.H264NALPPS, media.H264NALIDR} {
		if !slices.Contains(nalus, typ) {
			t.Errorf("first unit has NAL unit types %v: no %d", nalus, typ)
		}
	}
	wantRate(t, p, []*client{c}, 2*time.Second)
}

// wantRate checks that every client completes at least 80% of the units
// the source published over d, less three still on their way. The source is meant to publish 30 a
// second; a loaded machine may make it fewer, which is not our fault.
func wantRate(t *testing.T, p *publisher, cs []*client, d time.Duration) {
	t.Helper()
	from, sent := time.Now(), p.sent.Load()
	time.Sleep(d)
	sent = p.sent.Load() - sent
	if nominal := int64(fps * d.Seconds()); sent < nominal*9/10 {
		t.Logf("the source published %d units in %v, not %d: the machine is busy", sent, d, nominal)
	}
	want := int(sent*8/10) - 3 // a few may still be on their way
	for i, c := range cs {
		if n := c.framesSince(from); n < want {
			t.Errorf("client %d: %d units in %v, want >= %d (80%% of the %d the source published, less 3)",
				i, n, d, want, sent)
		}
	}
}

func TestPlay(t *testing.T) {
	e := newEnv(t, Options{})
	c := play(t, e.whep("cam"), clientOpts{})
	wantPlaying(t, e.pub, c)
	if !strings.HasPrefix(c.location, Prefix+"cam/whep/") {
		t.Errorf("Location %q", c.location)
	}
	_, port, _ := strings.Cut(e.srv.UDPAddr(), ":")
	if !strings.Contains(c.answer, " "+port+" typ host") {
		t.Errorf("answer has no host candidate on the UDP port %s:\n%s", port, c.answer)
	}
	if !strings.Contains(c.answer, "packetization-mode=1") || !strings.Contains(c.answer, "a=sendonly") {
		t.Errorf("answer does not send H.264 packetization-mode=1:\n%s", c.answer)
	}
	if !c.ptsOK {
		t.Error("RTP timestamps went backwards")
	}
	// The stream is High profile, which the client offers.
	if c.mu.Lock(); c.videoFmtp != h264Fmtp("64001f") {
		t.Errorf("sent as %q, want the offered High profile", c.videoFmtp)
	}
	c.mu.Unlock()
	if n := e.srv.Readers("cam"); n != 1 {
		t.Errorf("Readers = %d, want 1", n)
	}
	if e.hub.Wants() != 1 {
		t.Errorf("hub wanted by %d, want 1", e.hub.Wants())
	}
	if r := do(t, http.MethodDelete, e.ts.URL+c.location, "", ""); r.code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", r.code, r.body)
	}
	if n := e.srv.Readers("cam"); n != 0 || e.hub.Wants() != 0 {
		t.Errorf("after DELETE: %d readers, %d wants", n, e.hub.Wants())
	}
	waitFor(t, "the client to see the end", 10*time.Second, func() bool {
		return c.state() == webrtc.PeerConnectionStateClosed || c.state() == webrtc.PeerConnectionStateFailed
	})
	if r := do(t, http.MethodDelete, e.ts.URL+c.location, "", ""); r.code != http.StatusNotFound {
		t.Errorf("second DELETE: %d", r.code)
	}
}

// Of the offered H.264 formats, one with packetization-mode=1 is used.
func TestPicksPacketizationMode1(t *testing.T) {
	e := newEnv(t, Options{})
	h264 := func(pt webrtc.PayloadType, mode int, profile string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf(
				"level-asymmetry-allowed=1;packetization-mode=%d;profile-level-id=%s", mode, profile)}}
	}
	c := play(t, e.whep("cam"), clientOpts{}, h264(108, 0, "42e01f"), h264(127, 1, "4d001f"))
	wantPlaying(t, e.pub, c)
	if c.mu.Lock(); c.videoFmtp != h264Fmtp("4d001f") {
		t.Errorf("sent as %q, want the only format with packetization-mode=1", c.videoFmtp)
	}
	c.mu.Unlock()
}

// Twenty viewers play at the full rate while another one stops
// processing (its socket drops everything); that one is closed once its
// connection is lost for DisconnectTimeout.
func TestStalledViewer(t *testing.T) {
	// Twenty-one DTLS handshakes at once take long on a busy machine
	// under the race detector: give them time.
	e := newEnv(t, Options{DisconnectTimeout: time.Second, ConnectTimeout: 30 * time.Second})
	stalled := newPausable(t)
	cs := make([]*client, 20)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() { cs[i] = play(t, e.whep("cam"), clientOpts{}) })
	}
	wg.Wait()
	s := play(t, e.whep("cam"), clientOpts{paused: stalled})
	for i, c := range append(cs, s) {
		waitFor(t, fmt.Sprintf("client %d to play", i), 30*time.Second, func() bool {
			_, _, ok := c.firstFrame()
			return ok
		})
	}
	if n := e.srv.Readers("cam"); n != 21 {
		t.Fatalf("Readers = %d, want 21", n)
	}
	stalled.paused.Store(true)
	wantRate(t, e.pub, cs, 3*time.Second)
	// pion calls a connection disconnected after 5 s without a packet.
	waitFor(t, "the stalled viewer to be closed", 20*time.Second, func() bool { return e.srv.Readers("cam") == 20 })
	wantRate(t, e.pub, cs, time.Second)
}

// A session whose ICE never connects is closed after ConnectTimeout, and
// leaves no goroutine behind; nor does the server once closed.
func TestConnectTimeoutLeavesNothing(t *testing.T) {
	before := goleak.IgnoreCurrent()
	e := startEnv(t, Options{ConnectTimeout: 300 * time.Millisecond})
	pub := startPublisher(t, e.hub, clip320, nil, nil)
	waitFor(t, "the first keyframe", 5*time.Second, func() bool { return e.hub.LastKeyframeInfo() != nil })
	baseline := goleak.IgnoreCurrent()

	c := newClient(t, clientOpts{})
	sdp := c.offer(false)
	c.close() // the viewer is gone before it could connect
	if r := do(t, http.MethodPost, e.whep("cam"), "application/sdp", sdp); r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	if n := e.srv.Readers("cam"); n != 1 {
		t.Errorf("Readers = %d while connecting, want 1", n)
	}
	waitFor(t, "the session to time out", 5*time.Second, func() bool { return e.srv.Readers("cam") == 0 })
	if e.hub.Wants() != 0 || e.hub.Readers() != 0 {
		t.Errorf("hub still wanted (%d) or read (%d)", e.hub.Wants(), e.hub.Readers())
	}
	waitNoLeak(t, baseline)

	e.srv.Close()
	pub.stop()
	e.hub.Close()
	e.ts.Close()
	waitNoLeak(t, before)
}

func waitNoLeak(t *testing.T, opts ...goleak.Option) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		http.DefaultClient.CloseIdleConnections()   // keep-alive is not a leak
		if err = goleak.Find(opts...); err == nil { // retries for a while itself
			return
		}
	}
	t.Fatalf("goroutines not back to the baseline: %v", err)
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, Options{ICEServers: []ICEServer{{URLs: []string{"stun:stun.example.net:3478"}},
		{URLs: []string{"turn:turn.example.net?transport=udp"}, Username: "u", Credential: `p"w`}}})
	good := newClient(t, clientOpts{}).offer(false)
	vp8 := newClient(t, clientOpts{}, webrtc.RTPCodecParameters{PayloadType: 96,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}).offer(false)
	for _, c := range []struct {
		name, method, path, ctype, body string
		code                            int
		msg                             string
	}{
		{"malformed SDP", "POST", "/webrtc/cam/whep", "application/sdp", "hello", 400, "not an SDP offer"},
		{"no H.264", "POST", "/webrtc/cam/whep", "application/sdp", vp8, 400, "no common codec"},
		{"unknown source", "POST", "/webrtc/nope/whep", "application/sdp", good, 404, "unknown source"},
		{"not SDP", "POST", "/webrtc/cam/whep", "text/plain", good, 415, "content type"},
		{"GET", "GET", "/webrtc/cam/whep", "", "", 405, "method"},
		{"bad path", "POST", "/webrtc/cam/play", "application/sdp", good, 404, "not found"},
		{"unknown session", "PATCH", "/webrtc/cam/whep/abc", fragType, "", 404, "unknown session"},
		{"too big", "POST", "/webrtc/cam/whep", "application/sdp", strings.Repeat("a", maxBody+1), 413, "too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, e.ts.URL+c.path, c.ctype, c.body)
			var body struct{ Error string }
			if r.code != c.code || json.Unmarshal([]byte(r.body), &body) != nil || !strings.Contains(body.Error, c.msg) {
				t.Errorf("%d %s, want %d with %q", r.code, r.body, c.code, c.msg)
			}
		})
	}
	if n := e.srv.Readers("cam"); n != 0 || e.hub.Wants() != 0 {
		t.Errorf("refused offers left %d readers, %d wants", n, e.hub.Wants())
	}

	// The preflight names the methods, and only the ICE servers without
	// credentials; the answer names them all.
	r := do(t, http.MethodOptions, e.whep("cam"), "", "", "Access-Control-Request-Headers", "authorization, content-type")
	if r.code != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
		r.header.Get("Access-Control-Allow-Headers") != "authorization, content-type" {
		t.Errorf("OPTIONS: %d %v", r.code, r.header)
	}
	if l := r.header.Values("Link"); len(l) != 1 || l[0] != `<stun:stun.example.net:3478>; rel="ice-server"` {
		t.Errorf("OPTIONS Link %q", l)
	}
	r = do(t, http.MethodPost, e.whep("cam"), "application/sdp", good)
	if r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	want := `<turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p\"w"; credential-type="password"`
	if l := r.header.Values("Link"); len(l) != 2 || l[1] != want {
		t.Errorf("POST Link %q", l)
	}
	if r.header.Get("Content-Type") != "application/sdp" || r.header.Get("ETag") == "" ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("POST headers %v", r.header)
	}
}

// Trickled candidates reach the session; an ICE restart or a stale ETag
// is refused.
func TestTrickle(t *testing.T) {
	e := newEnv(t, Options{})
	c := play(t, e.whep("cam"), clientOpts{trickle: true})
	wantPlaying(t, e.pub, c)
	v := e.srv.paths.Lookup("cam").lookup(c.location[strings.LastIndex(c.location, "/")+1:])
	if n := remoteHostCandidates(v.pc); n == 0 {
		t.Error("no trickled host candidate in the session")
	}
	url := e.ts.URL + c.location
	frag := "a=ice-ufrag:other\r\na=ice-pwd:0123456789012345678901\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	for _, x := range []struct {
		name, ctype, body string
		hdr               []string
		code              int
	}{
		{"restart", fragType, frag, nil, 422},
		{"restart by If-Match", fragType, "", []string{"If-Match", "*"}, 422},
		{"stale ETag", fragType, "", []string{"If-Match", `"nope"`}, 412},
		{"not a fragment", "application/sdp", "", nil, 415},
		{"bad candidate", fragType, "a=candidate:garbage\r\n", nil, 400},
		{"end of candidates", fragType, "a=end-of-candidates\r\n", nil, 204},
	} {
		if r := do(t, http.MethodPatch, url, x.ctype, x.body, x.hdr...); r.code != x.code {
			t.Errorf("%s: %d %s, want %d", x.name, r.code, r.body, x.code)
		}
	}
}

func remoteHostCandidates(pc *webrtc.PeerConnection) int {
	n := 0
	for _, s := range pc.GetStats() {
		if c, ok := s.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeRemoteCandidate &&
			c.CandidateType == webrtc.ICECandidateTypeHost {
			n++
		}
	}
	return n
}

// With UDP off, a viewer plays over ICE-TCP.
func TestTCP(t *testing.T) {
	e := newEnv(t, Options{UDP: Off})
	if e.srv.UDPAddr() != "" || e.srv.TCPAddr() == "" {
		t.Fatalf("UDP %q, TCP %q", e.srv.UDPAddr(), e.srv.TCPAddr())
	}
	c := play(t, e.whep("cam"), clientOpts{tcp: true})
	if !strings.Contains(c.answer, "tcptype passive") {
		t.Errorf("answer has no passive TCP candidate:\n%s", c.answer)
	}
	wantPlaying(t, e.pub, c)
}

// The source's Opus or G.711 is sent as it is, on its own clock.
func TestAudio(t *testing.T) {
	g711 := make([][]byte, 50)
	for i := range g711 {
		g711[i] = make([]byte, 160)
	}
	for _, c := range []struct {
		name   string
		info   *media.AudioInfo
		frames [][]byte
		mime   string
		step   uint32 // RTP timestamp step between packets
		size   int    // payload bytes, 0: any
	}{
		{"opus", &media.AudioInfo{Codec: media.CodecOpus, SampleRate: 48000, Channels: 1}, opus20, webrtc.MimeTypeOpus, 960, 0},
		{"pcmu", &media.AudioInfo{Codec: media.CodecPCMU, SampleRate: 8000, Channels: 1}, g711, webrtc.MimeTypePCMU, 160, 160},
		{"pcma", &media.AudioInfo{Codec: media.CodecPCMA, SampleRate: 8000, Channels: 1}, g711, webrtc.MimeTypePCMA, 160, 160},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := startEnv(t, Options{})
			e.pub = startPublisher(t, e.hub, clip320, c.info, c.frames)
			v := play(t, e.whep("cam"), clientOpts{audio: true})
			wantPlaying(t, e.pub, v)
			v.mu.Lock()
			defer v.mu.Unlock()
			if !strings.EqualFold(v.audioMime, c.mime) || len(v.audioTS) < 50 {
				t.Fatalf("%d packets of %q, want >= 50 of %s", len(v.audioTS), v.audioMime, c.mime)
			}
			for i := 1; i < len(v.audioTS); i++ {
				if d := v.audioTS[i] - v.audioTS[i-1]; d != c.step || c.size > 0 && v.audioLen[i] != c.size {
					t.Fatalf("packet %d: timestamp step %d, %d bytes; want %d, %d", i, d, v.audioLen[i], c.step, c.size)
				}
			}
		})
	}
}

// AAC is not sent: the video plays alone.
func TestAACPlaysVideoOnly(t *testing.T) {
	e := startEnv(t, Options{})
	aac := &media.AudioInfo{Codec: media.CodecAAC, SampleRate: 48000, Channels: 1, Config: []byte{0x11, 0x88}}
	e.pub = startPublisher(t, e.hub, clip320, aac, [][]byte{{1, 2, 3}})
	c := play(t, e.whep("cam"), clientOpts{audio: true})
	wantPlaying(t, e.pub, c)
	if c.mu.Lock(); len(c.audioTS) != 0 {
		t.Errorf("%d sound packets of AAC", len(c.audioTS))
	}
	c.mu.Unlock()
}

// Viewers count up to the limit, then get 503; Detach closes them.
func TestReadersAndDetach(t *testing.T) {
	e := newEnv(t, Options{ReadersPerSource: 2})
	a := play(t, e.whep("cam"), clientOpts{})
	b := play(t, e.whep("cam"), clientOpts{})
	if n := e.srv.Readers("cam"); n != 2 {
		t.Errorf("Readers = %d, want 2", n)
	}
	r := do(t, http.MethodPost, e.whep("cam"), "application/sdp", newClient(t, clientOpts{}).offer(false))
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "too many viewers") {
		t.Errorf("third viewer: %d %s", r.code, r.body)
	}
	wantPlaying(t, e.pub, a)
	e.srv.Detach("cam")
	if n := e.srv.Readers("cam"); n != 0 || e.hub.Wants() != 0 || e.hub.Readers() != 0 {
		t.Errorf("after Detach: %d readers, hub wanted %d, read %d", n, e.hub.Wants(), e.hub.Readers())
	}
	for _, c := range []*client{a, b} {
		waitFor(t, "the viewer to be disconnected", 10*time.Second, func() bool {
			return c.state() == webrtc.PeerConnectionStateClosed || c.state() == webrtc.PeerConnectionStateFailed
		})
	}
	if r := do(t, http.MethodPost, e.whep("cam"), "application/sdp", "v=0"); r.code != http.StatusNotFound {
		t.Errorf("POST after Detach: %d", r.code)
	}
	e.srv.Attach(output.Source{Name: "cam", Units: e.hub})
	wantPlaying(t, e.pub, play(t, e.whep("cam"), clientOpts{}))
}

// A viewer's picture loss asks the source for a keyframe.
func TestPictureLoss(t *testing.T) {
	e := newEnv(t, Options{})
	c := play(t, e.whep("cam"), clientOpts{})
	wantPlaying(t, e.pub, c)
	before := e.pub.asked.Load()
	var ssrc uint32
	for _, r := range c.pc.GetReceivers() {
		if tr := r.Track(); tr != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
			ssrc = uint32(tr.SSRC())
		}
	}
	if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a keyframe request", 5*time.Second, func() bool { return e.pub.asked.Load() > before })
}

// An offer for a source without a picture yet waits for it, up to
// ReadyTimeout.
func TestWaitsForStream(t *testing.T) {
	e := startEnv(t, Options{ReadyTimeout: time.Second})
	r := do(t, http.MethodPost, e.whep("cam"), "application/sdp", newClient(t, clientOpts{}).offer(false))
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("POST before any picture: %d %s", r.code, r.body)
	}
	if e.hub.Wants() != 0 {
		t.Errorf("the refused offer still wants the hub")
	}
	pub := make(chan *publisher, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		pub <- startPublisher(t, e.hub, clip320, nil, nil)
	}()
	c := play(t, e.whep("cam"), clientOpts{})
	wantPlaying(t, <-pub, c)
}

// Additional hosts are offered next to the local candidates.
func TestAdditionalHosts(t *testing.T) {
	e := newEnv(t, Options{AdditionalHosts: []string{"192.0.2.10"}})
	c := play(t, e.whep("cam"), clientOpts{})
	_, port, _ := strings.Cut(e.srv.UDPAddr(), ":")
	for _, host := range []string{"192.0.2.10", "127.0.0.1"} {
		if !strings.Contains(c.answer, host+" "+port+" typ host") {
			t.Errorf("no host candidate %s:%s in the answer:\n%s", host, port, c.answer)
		}
	}
	wantPlaying(t, e.pub, c)
}

func TestNew(t *testing.T) {
	if _, err := New(Options{UDP: Off, TCP: Off}); err != ErrNoTransport {
		t.Errorf("both off: %v", err)
	}
	e := startEnv(t, Options{})
	_, err := New(Options{UDP: e.srv.UDPAddr(), TCP: Off})
	var le *ListenError
	if !errors.As(err, &le) || le.Transport != "udp" {
		t.Errorf("port taken: %v", err)
	}
	s, err := New(Options{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", BaseURL: func() string { return "http://h:8080" }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u := s.URLs("cam")["webrtc"]; u != "http://h:8080/webrtc/cam/whep" {
		t.Errorf("URL %q", u)
	}
	s.Attach(output.Source{Name: "bad/name", Units: hub.New("x")})
	if s.paths.Lookup("bad/name") != nil || s.Protocol() != "webrtc" {
		t.Error("attached an invalid name")
	}
	s.Close()
	s.Close()
}

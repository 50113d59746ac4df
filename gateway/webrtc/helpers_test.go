package webrtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/media"
)

const fps = 30

// Footage made once by TestMain with the ffmpeg CLI.
var (
	clip320 *clip    // H.264 320x240, 30 fps, an IDR every second, 4 s
	opus20  [][]byte // Opus packets of 20 ms, 48 kHz mono, 2 s
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "webrtc-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if clip320, err = makeClip(dir, 320, 240, 4); err == nil {
		opus20, err = makeOpus(dir, 2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "making test footage:", err)
		return 1
	}
	return m.Run()
}

func ffmpeg(args ...string) error {
	args = append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg %v: %v: %s", args, err, b)
	}
	return nil
}

// clip is an H.264 stream split into access units; the parameter sets are
// in info only, as from an encoder with global headers, so the server
// must put them in front of every IDR.
type clip struct {
	info *media.StreamInfo
	aus  [][][]byte // NAL units of each access unit
	idr  []bool
}

func makeClip(dir string, w, h, secs int) (*clip, error) {
	out := filepath.Join(dir, fmt.Sprintf("%dx%d.h264", w, h))
	err := ffmpeg("-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", w, h, fps),
		"-t", fmt.Sprint(secs), "-c:v", "libx264", "-tune", "zerolatency", "-bf", "0",
		"-g", fmt.Sprint(fps), "-x264-params", "aud=1", "-f", "h264", out)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	c := &clip{info: &media.StreamInfo{Codec: media.CodecH264, Width: w, Height: h, FPS: fps}}
	for _, n := range media.SplitAnnexB(data, nil) {
		c.add(n)
	}
	if c.info.SPS == nil || len(c.aus) != secs*fps || !c.idr[0] {
		return nil, fmt.Errorf("%s: unexpected stream (%d units)", out, len(c.aus))
	}
	return c, nil
}

// add files one NAL unit: a delimiter starts a unit, parameter sets go to
// info, the rest to the current unit.
func (c *clip) add(n []byte) {
	switch typ := media.NALUType(media.CodecH264, n); {
	case typ == media.H264NALAUD:
		c.aus = append(c.aus, [][]byte{n})
		c.idr = append(c.idr, false)
	case typ == media.H264NALSPS:
		c.info.SPS = n
	case typ == media.H264NALPPS:
		c.info.PPS = n
	case len(c.aus) > 0:
		i := len(c.aus) - 1
		c.aus[i] = append(c.aus[i], n)
		c.idr[i] = c.idr[i] || typ == media.H264NALIDR
	}
}

// makeOpus encodes a tone to Opus in Ogg, one 20 ms packet a page, and
// returns the packets.
func makeOpus(dir string, secs int) ([][]byte, error) {
	out := filepath.Join(dir, "tone.ogg")
	err := ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", fmt.Sprint(secs),
		"-c:a", "libopus", "-ac", "1", "-b:a", "32k", "-frame_duration", "20", "-page_duration", "20000", out)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var pkts [][]byte
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		if opusSamples(page) != 960 {
			return nil, fmt.Errorf("%s: a page is not one 20 ms packet", out)
		}
		pkts = append(pkts, page)
	}
	if len(pkts) < secs*40 {
		return nil, fmt.Errorf("%s: %d packets", out, len(pkts))
	}
	return pkts, nil
}

// publisher plays a clip into a hub at 30 fps, in a loop, with sound
// when it has some. It honours keyframe requests by jumping to the
// clip's next IDR, as an encoder would make one.
type publisher struct {
	h      *hub.Hub
	c      *clip
	audio  [][]byte // frames of 20 ms, nil: no sound
	info   *media.StreamInfo
	asked  atomic.Int32 // keyframe requests taken
	sent   atomic.Int64 // video units published
	cancel context.CancelFunc
	done   chan struct{}
}

func startPublisher(t *testing.T, h *hub.Hub, c *clip, a *media.AudioInfo, frames [][]byte) *publisher {
	ctx, cancel := context.WithCancel(context.Background())
	info := *c.info
	info.Audio = a
	p := &publisher{h: h, c: c, audio: frames, info: &info, cancel: cancel, done: make(chan struct{})}
	go p.run(ctx)
	t.Cleanup(p.stop)
	return p
}

func (p *publisher) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(time.Second / fps)
	defer tick.Stop()
	i, apts := 0, int64(0)
	for n := int64(0); ; n++ {
		if p.h.TakeKeyframeRequest() {
			p.asked.Add(1)
			for !p.c.idr[i%len(p.c.aus)] {
				i++
			}
		}
		pts := n * media.ClockRate / fps
		k := i % len(p.c.aus)
		p.h.Publish(&media.AccessUnit{Info: p.info, NALUs: p.c.aus[k], PTS: pts, DTS: pts, IDR: p.c.idr[k]})
		p.sent.Add(1)
		i++
		for ; p.audio != nil && apts <= pts; apts += media.ClockRate / 50 {
			f := p.audio[int(apts/(media.ClockRate/50))%len(p.audio)]
			p.h.Publish(&media.AccessUnit{Audio: p.info.Audio, Frames: [][]byte{f}, PTS: apts, DTS: apts})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *publisher) stop() {
	p.cancel()
	<-p.done
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is a server on loopback with one published source "cam".
type env struct {
	srv *Server
	ts  *httptest.Server
	hub *hub.Hub
	pub *publisher
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	e := startEnv(t, o)
	e.pub = startPublisher(t, e.hub, clip320, nil, nil)
	return e
}

// startEnv starts the server with "cam" attached and nothing published.
func startEnv(t *testing.T, o Options) *env {
	t.Helper()
	if o.UDP == "" {
		o.UDP = "127.0.0.1:0"
	}
	if o.TCP == "" {
		o.TCP = "127.0.0.1:0"
	}
	if o.Log == nil {
		o.Log = testLogger(t)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := &env{srv: srv, ts: httptest.NewServer(srv.Handler()), hub: hub.New("cam")}
	t.Cleanup(func() {
		e.srv.Close()
		e.hub.Close()
		e.ts.Close()
	})
	srv.Attach(output.Source{Name: "cam", Units: e.hub})
	return e
}

func (e *env) whep(name string) string { return e.ts.URL + Prefix + name + "/whep" }

type response struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, ctype, body string, hdr ...string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: res.StatusCode, header: res.Header, body: string(b)}
}

// clientOpts shape a test viewer.
type clientOpts struct {
	tcp     bool // ICE over TCP only
	audio   bool // offer to receive sound
	trickle bool // POST before gathering, PATCH the candidates
	paused  *pausable
}

// client is a WHEP viewer made with pion: it offers to receive H.264
// (and sound), and counts what it decodes.
type client struct {
	t        *testing.T
	pc       *webrtc.PeerConnection
	mux      io.Closer // its UDP mux, when paused is used
	location string
	answer   string
	offered  time.Time
	wg       sync.WaitGroup

	mu        sync.Mutex
	frame     []byte // Annex B of the unit being received
	frames    []time.Time
	firstNALU []int // NAL unit types of the first complete unit
	ptsOK     bool
	lastTS    uint32
	audioTS   []uint32
	audioLen  []int
	audioMime string
	videoMime string
	videoFmtp string
}

func clientAPI(t *testing.T, o clientOpts) (*webrtc.API, io.Closer) {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	var closer io.Closer
	switch {
	case o.tcp:
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	case o.paused != nil:
		mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: o.paused})
		se.SetICEUDPMux(mux)
		closer = mux
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), closer
}

// newClient makes the viewer's PeerConnection and its offer.
func newClient(t *testing.T, o clientOpts, video ...webrtc.RTPCodecParameters) *client {
	t.Helper()
	api, mux := clientAPI(t, o)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, pc: pc, mux: mux, ptsOK: true}
	t.Cleanup(c.close)
	tr, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	if err != nil {
		t.Fatal(err)
	}
	if len(video) > 0 {
		if err := tr.SetCodecPreferences(video); err != nil {
			t.Fatal(err)
		}
	}
	if o.audio {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.wg.Add(1)
		go c.read(tr)
	})
	return c
}

// offer returns the client's offer, with its candidates unless trickle.
func (c *client) offer(trickle bool) string {
	c.t.Helper()
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	if trickle {
		return offer.SDP
	}
	<-gathered
	return c.pc.LocalDescription().SDP
}

// play posts the offer to url and applies the answer.
func play(t *testing.T, url string, o clientOpts, video ...webrtc.RTPCodecParameters) *client {
	t.Helper()
	c := newClient(t, o, video...)
	var cands chan *webrtc.ICECandidate
	if o.trickle {
		cands = make(chan *webrtc.ICECandidate, 16)
		c.pc.OnICECandidate(func(cand *webrtc.ICECandidate) { cands <- cand })
	}
	sdp := c.offer(o.trickle)
	c.offered = time.Now()
	r := do(t, http.MethodPost, url, "application/sdp", sdp)
	if r.code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", url, r.code, r.body)
	}
	c.location, c.answer = r.header.Get("Location"), r.body
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: r.body}); err != nil {
		t.Fatalf("answer: %v\n%s", err, r.body)
	}
	if o.trickle {
		c.trickle(url, cands, r.header.Get("ETag"))
	}
	return c
}

// trickle PATCHes each candidate as it is gathered.
func (c *client) trickle(url string, cands chan *webrtc.ICECandidate, etag string) {
	base := url[:strings.Index(url, Prefix)]
	for cand := range cands {
		if cand == nil {
			return
		}
		frag := "a=ice-ufrag:" + c.ufrag() + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=" +
			cand.ToJSON().Candidate + "\r\n"
		if r := do(c.t, http.MethodPatch, base+c.location, fragType, frag, "If-Match", etag); r.code != http.StatusNoContent {
			c.t.Fatalf("PATCH: %d %s", r.code, r.body)
		}
	}
}

func (c *client) ufrag() string {
	_, after, _ := strings.Cut(c.pc.LocalDescription().SDP, "a=ice-ufrag:")
	u, _, _ := strings.Cut(after, "\r\n")
	return u
}

// read counts the units (or sound packets) of a track until it ends.
func (c *client) read(tr *webrtc.TrackRemote) {
	defer c.wg.Done()
	var h264 codecs.H264Packet
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			c.gotAudio(tr.Codec().MimeType, pkt)
			continue
		}
		annexB, err := h264.Unmarshal(pkt.Payload)
		if err != nil {
			continue
		}
		c.gotVideo(tr.Codec(), pkt, annexB)
	}
}

func (c *client) gotVideo(codec webrtc.RTPCodecParameters, pkt *rtp.Packet, annexB []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.videoMime, c.videoFmtp = codec.MimeType, codec.SDPFmtpLine
	c.frame = append(c.frame, annexB...)
	if !pkt.Marker {
		return
	}
	if len(c.frames) == 0 {
		for _, n := range media.SplitAnnexB(c.frame, nil) {
			c.firstNALU = append(c.firstNALU, media.NALUType(media.CodecH264, n))
		}
	} else if int32(pkt.Timestamp-c.lastTS) <= 0 {
		c.ptsOK = false
	}
	c.lastTS = pkt.Timestamp
	c.frames = append(c.frames, time.Now())
	c.frame = c.frame[:0]
}

func (c *client) gotAudio(mime string, pkt *rtp.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.audioMime = mime
	c.audioTS = append(c.audioTS, pkt.Timestamp)
	c.audioLen = append(c.audioLen, len(pkt.Payload))
}

// framesSince counts the units completed after t.
func (c *client) framesSince(t time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, at := range c.frames {
		if at.After(t) {
			n++
		}
	}
	return n
}

func (c *client) firstFrame() (time.Time, []int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.frames) == 0 {
		return time.Time{}, nil, false
	}
	return c.frames[0], c.firstNALU, true
}

func (c *client) state() webrtc.PeerConnectionState { return c.pc.ConnectionState() }

func (c *client) close() {
	_ = c.pc.GracefulClose()
	c.wg.Wait()
	if c.mux != nil {
		_ = c.mux.Close()
	}
}

// pausable is a client's UDP socket that can play dead: while paused it
// drops what comes in and what goes out, as a frozen or vanished peer.
type pausable struct {
	net.PacketConn
	paused atomic.Bool
}

func newPausable(t *testing.T) *pausable {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &pausable{PacketConn: conn}
}

func (p *pausable) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := p.PacketConn.ReadFrom(b)
		if err != nil || !p.paused.Load() {
			return n, addr, err
		}
	}
}

func (p *pausable) WriteTo(b []byte, addr net.Addr) (int, error) {
	if p.paused.Load() {
		return len(b), nil
	}
	return p.PacketConn.WriteTo(b, addr)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

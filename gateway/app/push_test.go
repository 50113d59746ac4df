package app

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/internal/testcam"
)

// pushKind is one way of publishing into the gateway with the ffmpeg CLI.
type pushKind struct {
	name string
	// url is where ffmpeg publishes source name, with credentials (empty
	// for none); args are ffmpeg's output options.
	url  func(g *gateway, name, user, pass string) string
	args []string
}

var pushKinds = []pushKind{
	{"rtsp_tcp", rtspPushURL, []string{"-f", "rtsp", "-rtsp_transport", "tcp"}},
	{"rtsp_udp", rtspPushURL, []string{"-f", "rtsp", "-rtsp_transport", "udp"}},
	{"rtmp", rtmpPushURL, []string{"-f", "flv"}},
	{"srt", srtPushURL, []string{"-f", "mpegts"}},
}

func rtspPushURL(g *gateway, name, user, pass string) string {
	if user != "" {
		return fmt.Sprintf("rtsp://%s:%s@%s/%s", user, pass, g.RTSPAddr(), name)
	}
	return g.rtspURL(name)
}

func rtmpPushURL(g *gateway, name, user, pass string) string {
	u := "rtmp://" + g.RTMPAddr() + "/" + name
	if user != "" {
		u += "?user=" + user + "&pass=" + pass
	}
	return u
}

func srtPushURL(g *gateway, name, user, pass string) string {
	id := "publish:" + name
	if user != "" {
		id += ":" + user + ":" + pass
	}
	return "srt://" + g.SRTAddr() + "?streamid=" + id + "&pkt_size=1316"
}

// publisher is an ffmpeg process pushing a moving 640x360 25 fps picture
// with sound, until stopped.
type publisher struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

func startPublisher(t *testing.T, k pushKind, url string) *publisher {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-ar", "48000"}
	p := &publisher{cmd: exec.Command("ffmpeg", append(append(args, k.args...), url)...), done: make(chan error, 1)}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(p.stop)
	return p
}

// stop ends the publisher the way a user would (q on a terminal is not
// there: SIGINT makes ffmpeg close its output properly).
func (p *publisher) stop() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// exited waits for ffmpeg to end by itself (refused or dropped).
func (p *publisher) exited(within time.Duration) (error, bool) {
	select {
	case err := <-p.done:
		p.done <- err // stop() reads it again
		return err, true
	case <-time.After(within):
		return nil, false
	}
}

// Each protocol's publisher comes out of the gateway annotated (motion
// boxes), over RTSP and LL-HLS at full rate, with the status naming it.
func TestPushedStreamsPlayEverywhere(t *testing.T) {
	var cfg strings.Builder
	cfg.WriteString("sources:\n")
	for _, k := range pushKinds {
		fmt.Fprintf(&cfg, "  - name: %s\n    url: publish\n    vision: {detector: motion, fps: 5}\n", k.name)
	}
	g := startGateway(t, cfg.String())
	for _, k := range pushKinds {
		t.Run(k.name, func(t *testing.T) {
			g.waitState(k.name, manager.StateWaiting, 5*time.Second)
			startPublisher(t, k, k.url(g, k.name, "", ""))
			st := g.waitRunning(k.name, 15*time.Second)
			if st.Publisher == nil || !strings.HasPrefix(k.name, st.Publisher.Protocol) || st.Publisher.Remote == "" {
				t.Errorf("publisher in the status: %+v", st.Publisher)
			}
			if st.Input.Codec != "h264" || st.Input.Width != 640 {
				t.Errorf("input %+v", st.Input)
			}
			r, err := testcam.Read(g.rtspURL(k.name), "tcp", 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			checkReading(t, r, 640, 360, 25, 3*time.Second)
			if got := probeStreams(t, g.base+"/hls/"+k.name+"/index.m3u8"); got != "audio:aac,video:h264" {
				t.Errorf("LL-HLS streams %q", got)
			}
			ev, err := readEvents(t.Context(), g.base+"/api/v1/sources/"+k.name+"/events", 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if boxes := countBoxes(ev); boxes == 0 {
				t.Errorf("no motion boxes in %d results", len(ev.results))
			}
		})
	}
}

func countBoxes(ev sse) int {
	n := 0
	for _, r := range ev.results {
		n += len(r.Boxes)
	}
	return n
}

// A publisher that leaves and comes back: the reader stays connected
// through the slate, timestamps stay monotonic, and the second
// publisher's picture reaches it.
func TestPublisherLeavesAndReturns(t *testing.T) {
	k := pushKinds[0]
	g := startGateway(t, "sources:\n  - name: back\n    url: publish\n")
	pub := startPublisher(t, k, k.url(g, "back", "", ""))
	g.waitRunning("back", 15*time.Second)
	rd, err := startTimedReader(g.rtspURL("back"))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.close()
	g.waitReaders("back", "rtsp", 1, 5*time.Second)
	pub.stop()
	g.waitState("back", manager.StateWaiting, 10*time.Second)
	// A reader joining while the publisher is away sees the card at once:
	// its first keyframe does not wait for the encoder's next GOP.
	joined, err := testcam.Read(g.rtspURL("back"), "tcp", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if joined.KeyAfter == 0 || joined.KeyAfter > 2*time.Second {
		t.Errorf("a reader joining during the gap got its first keyframe after %v, want ≤ 2 s", joined.KeyAfter)
	}
	before := g.status("back").FramesIn
	startPublisher(t, k, k.url(g, "back", "", ""))
	g.waitFramesAfter("back", before+25, 15*time.Second)
	if _, ok := rd.firstFrameAfter(time.Now(), 5*time.Second); !ok {
		t.Fatal("no frame reached the reader after the publisher returned")
	}
	if err := rd.err(); err != nil {
		t.Errorf("the reader was disconnected while the publisher was away: %v", err)
	}
	if n := rd.nonMonotonic(); n > 0 {
		t.Errorf("%d non-monotonic timestamps across the publisher's return", n)
	}
}

// One publisher per source: a second is refused on every protocol, and
// takes over where the source says override.
func TestSecondPublisher(t *testing.T) {
	g := startGateway(t, "sources:\n  - name: one\n    url: publish\n  - name: shared\n    url: publish\n    override: true\n")
	first := startPublisher(t, pushKinds[0], rtspPushURL(g, "one", "", ""))
	g.waitRunning("one", 15*time.Second)
	for _, k := range pushKinds {
		second := startPublisher(t, k, k.url(g, "one", "", ""))
		if _, ok := second.exited(15 * time.Second); !ok {
			t.Errorf("%s: a second publisher was not refused", k.name)
		}
	}
	if err, ended := first.exited(0); ended {
		t.Fatalf("the first publisher was dropped: %v", err)
	}
	old := startPublisher(t, pushKinds[0], rtspPushURL(g, "shared", "", ""))
	g.waitRunning("shared", 15*time.Second)
	startPublisher(t, pushKinds[3], srtPushURL(g, "shared", "", ""))
	if _, ok := old.exited(10 * time.Second); !ok {
		t.Fatal("with override, the old publisher was not disconnected")
	}
	st := g.waitRunning("shared", 10*time.Second)
	if st.Publisher == nil || st.Publisher.Protocol != "srt" {
		t.Errorf("publisher after the takeover: %+v", st.Publisher)
	}
}

// With auth on, publishing needs the publish (or admin) credentials on
// every protocol.
func TestPublishNeedsCredentials(t *testing.T) {
	g := startGateway(t, "auth: {username: admin, password: adminpw, read_username: viewer, read_password: look, "+
		"publish_username: cam, publish_password: pushpw}\nsources:\n  - name: p\n    url: publish\n")
	for _, k := range pushKinds {
		for _, c := range []struct{ user, pass string }{{"", ""}, {"cam", "wrong"}, {"viewer", "look"}} {
			p := startPublisher(t, k, k.url(g, "p", c.user, c.pass))
			if err, ok := p.exited(15 * time.Second); !ok || err == nil {
				t.Errorf("%s as %q/%q: not refused (%v): %s", k.name, c.user, c.pass, err, p.stderr.String())
			}
		}
		for _, c := range []struct{ user, pass string }{{"cam", "pushpw"}, {"admin", "adminpw"}} {
			p := startPublisher(t, k, k.url(g, "p", c.user, c.pass))
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			st, ok := waitPublisher(ctx, g, "p")
			cancel()
			if !ok {
				t.Fatalf("%s as %s: refused: %s", k.name, c.user, p.stderr.String())
			}
			if !strings.HasPrefix(k.name, st) {
				t.Errorf("%s: publisher protocol %q", k.name, st)
			}
			p.stop()
			g.waitState("p", manager.StateWaiting, 10*time.Second)
		}
	}
}

// waitPublisher waits until a publisher is connected to name and returns
// its protocol.
func waitPublisher(ctx context.Context, g *gateway, name string) (string, bool) {
	for ctx.Err() == nil {
		if st := g.status(name); st.Publisher != nil {
			return st.Publisher.Protocol, true
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return "", false
}

// Garbage on the publish ports costs the sender its connection, nothing
// else: the published source keeps running.
func TestGarbagePublishersDoNotHurtOthers(t *testing.T) {
	g := startGateway(t, "sources:\n  - name: good\n    url: publish\n  - name: bad\n    url: publish\n")
	startPublisher(t, pushKinds[0], rtspPushURL(g, "good", "", ""))
	g.waitRunning("good", 15*time.Second)
	for _, addr := range []string{g.RTMPAddr(), g.RTSPAddr()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(bytes.Repeat([]byte{0x03, 0xff, 0x00, 0x47}, 4096))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Read(make([]byte, 4096)) // an error answer, or the hang-up
		c.Close()
	}
	u, err := net.Dial("udp", g.SRTAddr())
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		_, _ = u.Write(bytes.Repeat([]byte{0x80, 0x00, 0x47}, 400))
	}
	u.Close()
	before := g.status("good").FramesIn
	g.waitFramesAfter("good", before+50, 10*time.Second)
	if st := g.status("bad"); st.State != manager.StateWaiting {
		t.Errorf("the source garbage was aimed at: %s", st.State)
	}
}

// startBrowserPublisher runs e2e/whip.mjs: Chromium publishes its fake
// camera and microphone over WHIP with its default codecs.
func startBrowserPublisher(t *testing.T, g *gateway, name, cred string, seconds int) *publisher {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(root, "e2e", "whip.mjs"), g.base, name, strconv.Itoa(seconds)}
	if cred != "" {
		args = append(args, cred)
	}
	p := &publisher{cmd: exec.Command("node", args...), done: make(chan error, 1)}
	p.cmd.Dir = root
	p.cmd.Stdout, p.cmd.Stderr = &p.stderr, &p.stderr
	p.cmd.Env = append(os.Environ(), "VG_CHROMIUM="+chromiumPath)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(p.stop)
	return p
}

// A browser publishes over WHIP (VP8, Chromium's default, and Opus) into
// a publish source with a detector, which comes out as annotated H.264
// over RTSP at the camera's rate; wrong credentials are refused.
func TestBrowserPublishesOverWHIP(t *testing.T) {
	g := startGateway(t, "auth: {username: admin, password: adminpw, publish_username: cam, publish_password: pushpw}\n"+
		"sources:\n  - name: web\n    url: publish\n    vision: {detector: motion, fps: 5}\n")
	// Wrong credentials, checked with a plain POST: a browser would ask
	// its user for better ones.
	req, _ := http.NewRequest("POST", g.base+"/webrtc/web/whip", strings.NewReader("v=0\r\n"))
	req.Header.Set("Content-Type", "application/sdp")
	req.SetBasicAuth("cam", "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("WHIP with wrong credentials: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	pub := startBrowserPublisher(t, g, "web", "cam:pushpw", 30)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	protocol, ok := waitPublisher(ctx, g, "web")
	cancel()
	if !ok || protocol != "webrtc" {
		t.Fatalf("no WebRTC publisher (%q): %s", protocol, pub.stderr.String())
	}
	st := waitStatus(t, g, "web", 20*time.Second, func(st manager.Status) bool {
		return st.State == manager.StateRunning && st.FramesIn > 0
	})
	t.Logf("browser publisher: %s; input %+v; %s", st.Publisher.Remote, st.Input, strings.TrimSpace(pub.stderr.String()))
	if st.Input.Codec != "vp8" || st.Input.Width != 640 || st.Input.Height != 480 {
		t.Errorf("input %+v, want Chromium's default vp8 640x480", st.Input)
	}
	url := "rtsp://admin:adminpw@" + g.RTSPAddr() + "/web"
	r, err := testcam.Read(url, "tcp", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RTSP reader: %d frames %dx%d in 3 s", r.Frames, r.Width, r.Height)
	if r.Width != 640 || r.Height != 480 || r.Frames < 45 {
		t.Errorf("RTSP output %dx%d, %d frames in 3 s: want 640x480 at the fake camera's rate", r.Width, r.Height, r.Frames)
	}
}

// waitStatus polls the manager (no HTTP: auth may be on) until ok.
func waitStatus(t *testing.T, g *gateway, name string, within time.Duration, ok func(manager.Status) bool) manager.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := g.status(name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status not reached within %v: %+v", name, within, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

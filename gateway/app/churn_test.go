package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/internal/testcam"
)

// The churn test adds and removes sources through the HTTP API, with
// readers (RTSP, MJPEG, SSE, HLS) attached on many cycles, and checks that
// nothing is left behind: no goroutine (goleak, while the gateway still
// runs and again after Close), Go heap back near its baseline, and, built
// with -tags matprofile, no gocv Mat. RSS (C memory from libav, x264 and
// OpenCV included) is logged and only bounded generously: glibc keeps
// freed memory in its arenas, so RSS climbs for a while before it levels
// off (run with MALLOC_ARENA_MAX=2 to see the plateau sooner).
//
// Cycles: 1000 (about 20 s on 2 cores), 100 with -short, or
// VISIONGATE_CHURN=N for longer runs, e.g.
//
//	VISIONGATE_CHURN=5000 go test -run TestChurn -v ./gateway/app/
//	VISIONGATE_CHURN=1000 go test -tags matprofile -run TestChurn -v ./gateway/app/
const (
	churnDefault = 1000
	// Every fullEvery-th cycle waits for the source to run and attaches
	// real readers (RTSP PLAY, MJPEG pictures, SSE detections, HLS); the
	// others are cheap and mostly remove the source while it is starting.
	fullEvery = 50
	// heapSlack and rssSlack bound growth over the churn (see above).
	heapSlack = 64 << 20
	rssSlack  = 256 << 20
	// readerGone bounds how long a reader may outlive its source.
	readerGone = 5 * time.Second
)

// matCount and matReport are set by churn_matprofile_test.go under
// -tags matprofile.
var (
	matCount  func() int
	matReport func() string
)

const churnURL = "lavfi:testsrc2=size=96x64:rate=25"

func TestChurnLeaks(t *testing.T) {
	cycles := churnCycles(t)
	began := time.Now()
	before := goleak.IgnoreCurrent() // goroutines of the test binary and earlier tests
	startMats := mats()
	cam := testcam.Start(t, testcam.Options{Width: 160, Height: 120, FPS: 25})
	g, closeApp := startQuiet(t, "allow_local_sources: true\napi_local_sources: true\nsources: []\n")
	g.post(`{"name":"base","url":"lavfi:testsrc2=size=160x120:rate=25"}`)
	g.waitRunning("base", 10*time.Second)

	c := &churner{g: g, cam: cam.URL, removedIn: map[string]int{}, got: map[string]int{}}
	for _, i := range []int{0, fullEvery, 1, 2, 3, 4, 5} { // warm up every kind of cycle
		c.cycle(i)
	}
	settle(t)
	baseline := sample()
	atBaseline := goleak.IgnoreCurrent()
	baseMats := mats()
	baseStatus, _ := g.Manager().Get("base")
	t.Logf("baseline: %s, %d Mats", baseline, baseMats)

	start := time.Now()
	for i := range cycles {
		c.cycle(i)
		if t.Failed() {
			t.Fatalf("stopped at cycle %d", i)
		}
		if (i+1)%(max(cycles/4, 1)) == 0 {
			t.Logf("%d cycles: RSS %.1f MiB, %d goroutines", i+1, float64(vmRSS())/(1<<20), runtime.NumGoroutine())
		}
	}
	churnTime := time.Since(start)
	settle(t)
	// Still running with only "base": every goroutine a cycle made is gone.
	after := sample()
	st, _ := g.Manager().Get("base")
	if st.Attempts != baseStatus.Attempts {
		// base reconnected (a starved machine): its goroutines are new ones.
		t.Logf("base reconnected (attempt %d): comparing goroutine counts only", st.Attempts)
		// The old session's goroutines end on their own time: wait for the
		// count to come back to the baseline.
		deadline := time.Now().Add(5 * time.Second)
		for after.goroutines > baseline.goroutines && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			after.goroutines = runtime.NumGoroutine()
		}
		if after.goroutines > baseline.goroutines {
			t.Errorf("%d goroutines 5 s after %d cycles, %d before", after.goroutines, cycles, baseline.goroutines)
		}
	} else if err := goleak.Find(atBaseline); err != nil {
		t.Errorf("goroutines left by %d cycles while the gateway runs: %v", cycles, err)
	}
	t.Logf("after %d cycles (%d full) in %v: %s, %d Mats; fps_out of base: %.1f", cycles, c.full,
		churnTime.Round(time.Millisecond), after, mats(), st.FPSOut)
	t.Logf("state of the sources when removed: %v; readers received: %v", c.removedIn, c.got)
	checkGrowth(t, baseline, after)
	checkMats(t, "after churn", baseMats)

	closeApp()
	cam.Close()
	settle(t)
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left after Close: %v", err)
	}
	checkMats(t, "after Close", startMats)
	t.Logf("after Close: %s; whole test %v", sample(), time.Since(began).Round(time.Millisecond))
}

func churnCycles(t *testing.T) int {
	v := os.Getenv("VISIONGATE_CHURN")
	if v == "" {
		if testing.Short() {
			return 100
		}
		return churnDefault
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("VISIONGATE_CHURN=%q: want a positive number of cycles", v)
	}
	return n
}

// startQuiet is startGateway with warnings only (a thousand cycles would
// fill the test log) and an explicit, idempotent close.
func startQuiet(t *testing.T, yaml string) (*gateway, func()) {
	t.Helper()
	rtp, rtcp := testcam.FreeUDPPair(t)
	head := fmt.Sprintf("http: 127.0.0.1:0\nrtsp: 127.0.0.1:0\nrtsp_rtp_address: 127.0.0.1:%d\nrtsp_rtcp_address: 127.0.0.1:%d\n", rtp, rtcp) +
		loopbackListeners
	cfg, err := config.Parse([]byte(head + yaml))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeApp := func() {
		once.Do(func() {
			if err := a.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			http.DefaultClient.CloseIdleConnections()
		})
	}
	t.Cleanup(closeApp)
	return &gateway{App: a, t: t, base: "http://" + a.HTTPAddr()}, closeApp
}

func (g *gateway) post(body string) {
	g.t.Helper()
	if code, b := g.do("POST", "/api/v1/sources", body); code != http.StatusCreated {
		g.t.Fatalf("POST %s = %d %s", body, code, b)
	}
}

func (g *gateway) remove(name string) {
	g.t.Helper()
	if code, b := g.do("DELETE", "/api/v1/sources/"+name, ""); code != http.StatusNoContent {
		g.t.Fatalf("DELETE %s = %d %s", name, code, b)
	}
}

// churner runs one add/remove cycle at a time; what it attaches depends
// on the cycle number.
type churner struct {
	g         *gateway
	cam       string
	full      int
	removedIn map[string]int // state at DELETE, "+frames" once any came out
	got       map[string]int // what the readers received, by kind
}

func (c *churner) cycle(i int) {
	name := "churn" + strconv.Itoa(i)
	vision := ""
	if i%4 == 1 || i%fullEvery == 0 {
		vision = `,"vision":{"detector":"motion","fps":10}`
	}
	src := fmt.Sprintf(`"url":%q`, churnURL)
	if i%fullEvery == 0 && (i/fullEvery)%2 == 1 {
		// Every other full cycle reads a real RTSP camera, over TCP: over
		// UDP the camera keeps its session (and its goroutines here) for
		// its 60 s idle timeout, as no TEARDOWN is sent on removal.
		src = fmt.Sprintf(`"url":%q,"transport":"tcp"`, c.cam)
	}
	c.g.post(fmt.Sprintf(`{"name":%q,%s%s}`, name, src, vision))
	switch {
	case i%fullEvery == 0:
		c.full++
		c.fullCycle(name, i)
	case i%8 == 1:
		c.attachedAtRemoval(name, sseReader(c.g, name, nil))
	case i%8 == 2:
		c.attachedAtRemoval(name, mjpegReader(c.g.t.Context(), c.g, name))
	case i%8 == 3:
		c.attachedAtRemoval(name, describeReader(c.g, name), hlsReader(c.g, name))
	case i%8 == 4:
		if code, b := c.g.do("PATCH", "/api/v1/sources/"+name, `{"encoder":{"width":64}}`); code != http.StatusOK {
			c.g.t.Fatalf("PATCH %s = %d %s", name, code, b)
		}
		c.remove(name)
	case i%8 == 5:
		c.leftBeforeRemoval(name)
	default:
		c.remove(name) // while the source starts
	}
}

// remove deletes the source through the API, noting how far it got.
func (c *churner) remove(name string) {
	if st, err := c.g.Manager().Get(name); err == nil {
		state := st.State
		if st.FramesOut > 0 {
			state += "+frames"
		}
		c.removedIn[state]++
	}
	c.g.remove(name)
}

// reader is a client attached to a source; done is closed when it ends.
type reader struct {
	kind string
	done chan struct{}
	err  error
	got  int // pictures, events or playlists received
}

// attachedAtRemoval removes the source under its readers: each must be
// disconnected by the server within readerGone.
func (c *churner) attachedAtRemoval(name string, rs ...*reader) {
	c.remove(name)
	deadline := time.After(readerGone)
	for _, r := range rs {
		select {
		case <-r.done:
		case <-deadline:
			c.g.t.Fatalf("%s reader of %s still connected %v after DELETE", r.kind, name, readerGone)
		}
		if r.got > 0 {
			c.got[r.kind] += r.got
		}
	}
}

// leftBeforeRemoval has an MJPEG viewer leave on its own before the
// source is removed.
func (c *churner) leftBeforeRemoval(name string) {
	ctx, cancel := context.WithCancel(c.g.t.Context())
	r := mjpegReader(ctx, c.g, name)
	cancel()
	<-r.done
	c.remove(name)
}

// fullCycle waits for pictures, detections and an RTSP reader, then
// removes the source under all of them.
func (c *churner) fullCycle(name string, i int) {
	g := c.g
	g.waitRunning(name, 10*time.Second)
	events := make(chan struct{}, 1)
	protocol := []string{"tcp", "udp"}[(i/fullEvery)%2]
	rs := []*reader{rtspReader(g, name, protocol), mjpegReader(g.t.Context(), g, name), sseReader(g, name, events),
		hlsReader(g, name)}
	g.waitReaders(name, "rtsp", 1, 10*time.Second)
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		g.t.Fatalf("%s: no detection event within 10s", name)
	}
	c.attachedAtRemoval(name, rs...)
}

// rtspReader plays the path with gortsplib until the server ends it.
func rtspReader(g *gateway, name, protocol string) *reader {
	r := &reader{kind: "rtsp/" + protocol, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_, r.err = testcam.Read(g.rtspURL(name), protocol, time.Minute)
	}()
	return r
}

// describeReader sends one raw DESCRIBE: the path waits for the source's
// first keyframe, so removal is what answers it.
func describeReader(g *gateway, name string) *reader {
	r := &reader{kind: "rtsp/describe", done: make(chan struct{})}
	go func() {
		defer close(r.done)
		conn, err := net.DialTimeout("tcp", g.RTSPAddr(), time.Second)
		if err != nil {
			r.err = err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
		fmt.Fprintf(conn, "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n", g.rtspURL(name))
		_, r.err = bufio.NewReader(conn).ReadString('\n')
	}()
	return r
}

// hlsReader polls the playlist as a player does until it is refused; the
// first request waits for the source's first segments.
func hlsReader(g *gateway, name string) *reader {
	r := &reader{kind: "hls", done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			req, _ := http.NewRequestWithContext(g.t.Context(), "GET", g.base+"/hls/"+name+"/index.m3u8", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				r.err = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return
			}
			r.got++
		}
		r.err = errors.New("still served a minute later")
	}()
	return r
}

// mjpegReader streams /mjpeg/NAME until ctx ends or the server does; it
// returns once the handler has subscribed (the viewer count says so).
func mjpegReader(ctx context.Context, g *gateway, name string) *reader {
	r := &reader{kind: "mjpeg", done: make(chan struct{})}
	go func() {
		defer close(r.done)
		req, _ := http.NewRequestWithContext(ctx, "GET", g.base+"/mjpeg/"+name, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			r.err = err
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Content-Type: image/jpeg") {
				r.got++
			}
		}
		r.err = sc.Err()
	}()
	g.waitReaders(name, "mjpeg", 1, 5*time.Second)
	return r
}

// sseReader subscribes to the source's detection events; it returns once
// the stream is open. events, when set, hears of each detection.
func sseReader(g *gateway, name string, events chan<- struct{}) *reader {
	r := &reader{kind: "sse", done: make(chan struct{})}
	open := make(chan struct{})
	go func() {
		defer close(r.done)
		req, _ := http.NewRequestWithContext(g.t.Context(), "GET", g.base+"/api/v1/sources/"+name+"/events", nil)
		resp, err := http.DefaultClient.Do(req)
		close(open)
		if err != nil {
			r.err = err
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "event: detections") {
				continue
			}
			r.got++
			if events != nil {
				select {
				case events <- struct{}{}:
				default:
				}
			}
		}
		r.err = sc.Err()
	}()
	<-open
	return r
}

// memSample is the process's memory at one moment.
type memSample struct {
	heapInuse  uint64
	rss        uint64
	goroutines int
}

func (m memSample) String() string {
	return fmt.Sprintf("HeapInuse %.1f MiB, RSS %.1f MiB, %d goroutines",
		float64(m.heapInuse)/(1<<20), float64(m.rss)/(1<<20), m.goroutines)
}

// settle closes the test's idle HTTP connections and waits until the
// goroutines serving them, on both ends, have exited (they do so on their
// own time, and a sample taken before would count them and their buffers),
// then collects garbage (runtime.GC returns after a full cycle) and returns
// freed memory to the OS.
func settle(t *testing.T) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for n := httpConnGoroutines(); n > 0; n = httpConnGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still serve HTTP connections 10 s after the client closed its idle ones", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	debug.FreeOSMemory()
}

// httpConnGoroutines counts the goroutines that serve an HTTP connection:
// the server's, and the client transport's read and write loops.
func httpConnGoroutines() int {
	buf := make([]byte, 1<<20)
	size := runtime.Stack(buf, true)
	for size == len(buf) { // truncated
		buf = make([]byte, 2*len(buf))
		size = runtime.Stack(buf, true)
	}
	n := 0
	for _, g := range strings.Split(string(buf[:size]), "\n\n") {
		if strings.Contains(g, "net/http.(*conn).serve(") || strings.Contains(g, "net/http.(*persistConn).readLoop(") ||
			strings.Contains(g, "net/http.(*persistConn).writeLoop(") {
			n++
		}
	}
	return n
}

func sample() memSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heapInuse: ms.HeapInuse, rss: vmRSS(), goroutines: runtime.NumGoroutine()}
}

// vmRSS reads the resident set size from /proc/self/status (0 if absent).
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func checkGrowth(t *testing.T, base, now memSample) {
	t.Helper()
	if now.heapInuse > base.heapInuse+heapSlack {
		t.Errorf("Go heap grew from %.1f to %.1f MiB (bound +%d MiB)",
			float64(base.heapInuse)/(1<<20), float64(now.heapInuse)/(1<<20), heapSlack>>20)
	}
	if base.rss > 0 && now.rss > base.rss+rssSlack {
		t.Errorf("RSS grew from %.1f to %.1f MiB (bound +%d MiB)",
			float64(base.rss)/(1<<20), float64(now.rss)/(1<<20), rssSlack>>20)
	}
}

func mats() int {
	if matCount == nil {
		return 0
	}
	return matCount()
}

// checkMats waits briefly for the vision workers to free the detectors
// of removed sources, then wants the Mat count back at want.
func checkMats(t *testing.T, when string, want int) {
	t.Helper()
	if matCount == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for matCount() != want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := matCount(); n != want {
		t.Errorf("%s: %d Mats live, want %d:\n%s", when, n, want, matReport())
	}
}

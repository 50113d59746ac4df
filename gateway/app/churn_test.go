package app

import (
	"bufio"
	"context"
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
// readers attached on many cycles, and checks that nothing is left behind:
// no goroutine (goleak, while the gateway still runs and again after
// Close), Go heap back near its baseline, and, built with -tags matprofile,
// no gocv Mat. RSS (C memory from libav, x264 and OpenCV included) is
// logged and only bounded generously: glibc keeps freed memory in its
// arenas.
//
// Cycles: VISIONGATE_CHURN=N (default churnDefault) for longer runs, e.g.
//
//	VISIONGATE_CHURN=5000 go test -run TestChurn -v ./gateway/app/
//	VISIONGATE_CHURN=1000 go test -tags matprofile -run TestChurn -v ./gateway/app/
const (
	churnDefault = 1000
	// Every fullEvery-th cycle waits for the source to run and attaches
	// real readers (RTSP PLAY, MJPEG pictures, SSE detections); the others
	// are cheap and remove the source while it is still starting.
	fullEvery = 50
	// heapSlack and rssSlack bound growth over the churn (see above).
	heapSlack = 64 << 20
	rssSlack  = 256 << 20
	// readerGone bounds how long a reader may outlive its source.
	readerGone = 5 * time.Second
)

// matCount is set by churn_matprofile_test.go under -tags matprofile.
var matCount func() int

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

	c := &churner{g: g, cam: cam.URL}
	for _, i := range []int{0, fullEvery, 1, 2, 3, 4, 5} { // warm up every kind of cycle
		c.cycle(i)
	}
	settle()
	baseline := sample()
	atBaseline := goleak.IgnoreCurrent()
	baseMats := mats()
	t.Logf("baseline: %s, %d Mats", baseline, baseMats)

	start := time.Now()
	for i := range cycles {
		c.cycle(i)
		if t.Failed() {
			t.Fatalf("stopped at cycle %d", i)
		}
	}
	churnTime := time.Since(start)
	settle()
	// Still running with only "base": every goroutine a cycle made is gone.
	if err := goleak.Find(atBaseline); err != nil {
		t.Errorf("goroutines left by %d cycles while the gateway runs: %v", cycles, err)
	}
	after := sample()
	t.Logf("after %d cycles (%d full) in %v: %s, %d Mats; fps_out of base: %.1f", cycles, c.full,
		churnTime.Round(time.Millisecond), after, mats(), g.fps("base"))
	checkGrowth(t, baseline, after)
	checkMats(t, "after churn", baseMats)

	closeApp()
	settle()
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
	head := fmt.Sprintf("http: 127.0.0.1:0\nrtsp: 127.0.0.1:0\nrtsp_rtp_address: 127.0.0.1:%d\nrtsp_rtcp_address: 127.0.0.1:%d\n", rtp, rtcp)
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

func (g *gateway) fps(name string) float64 {
	st, err := g.Manager().Get(name)
	if err != nil {
		return -1
	}
	return st.FPSOut
}

// churner runs one add/remove cycle at a time; what it attaches depends
// on the cycle number.
type churner struct {
	g    *gateway
	cam  string
	full int
}

func (c *churner) cycle(i int) {
	name := "churn" + strconv.Itoa(i)
	vision := ""
	if i%4 == 1 || i%fullEvery == 0 {
		vision = `,"vision":{"detector":"motion","fps":10}`
	}
	url := churnURL
	if i%fullEvery == 0 && (i/fullEvery)%2 == 1 {
		url = c.cam // every other full cycle reads a real RTSP camera
	}
	c.g.post(fmt.Sprintf(`{"name":%q,"url":%q%s}`, name, url, vision))
	switch {
	case i%fullEvery == 0:
		c.full++
		c.fullCycle(name, i)
	case i%8 == 1:
		c.attachedAtRemoval(name, sseReader(c.g, name, nil))
	case i%8 == 2:
		c.attachedAtRemoval(name, mjpegReader(c.g, name, "mjpeg"))
	case i%8 == 3:
		c.attachedAtRemoval(name, describeReader(c.g, name))
	case i%8 == 4:
		if code, b := c.g.do("PATCH", "/api/v1/sources/"+name, `{"encoder":{"width":64}}`); code != http.StatusOK {
			c.g.t.Fatalf("PATCH %s = %d %s", name, code, b)
		}
		c.g.remove(name)
	case i%8 == 5:
		c.leftBeforeRemoval(name)
	default:
		c.g.remove(name) // while the source starts
	}
}

// reader is a client attached to a source; done is closed when it ends.
type reader struct {
	kind string
	done chan struct{}
	err  error
}

// attachedAtRemoval removes the source under its readers: each must be
// disconnected by the server within readerGone.
func (c *churner) attachedAtRemoval(name string, rs ...*reader) {
	c.g.remove(name)
	deadline := time.After(readerGone)
	for _, r := range rs {
		select {
		case <-r.done:
		case <-deadline:
			c.g.t.Fatalf("%s reader of %s still connected %v after DELETE", r.kind, name, readerGone)
		}
	}
}

// leftBeforeRemoval has an MJPEG viewer leave on its own before the
// source is removed.
func (c *churner) leftBeforeRemoval(name string) {
	ctx, cancel := context.WithCancel(c.g.t.Context())
	r := mjpegReaderCtx(ctx, c.g, name, "mjpeg")
	cancel()
	<-r.done
	c.g.remove(name)
}

// fullCycle waits for pictures, detections and an RTSP reader, then
// removes the source under all of them.
func (c *churner) fullCycle(name string, i int) {
	g := c.g
	g.waitRunning(name, 10*time.Second)
	events := make(chan struct{}, 1)
	protocol := []string{"tcp", "udp"}[(i/fullEvery)%2]
	rs := []*reader{rtspReader(g, name, protocol), mjpegReader(g, name, "mjpeg"), sseReader(g, name, events)}
	g.waitReaders(name, "rtsp", 10*time.Second)
	select {
	case <-events:
	case <-time.After(10 * time.Second):
		g.t.Fatalf("%s: no detection event within 10s", name)
	}
	c.attachedAtRemoval(name, rs...)
}

func (g *gateway) waitReaders(name, protocol string, within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st, err := g.Manager().Get(name); err == nil && st.Readers[protocol] > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, _ := g.Manager().Get(name)
	g.t.Fatalf("%s: no %s reader within %v: %+v", name, protocol, within, st.Readers)
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

// mjpegReader streams /mjpeg/NAME; it returns once the handler has
// subscribed (the viewer count says so).
func mjpegReader(g *gateway, name, kind string) *reader {
	return mjpegReaderCtx(g.t.Context(), g, name, kind)
}

func mjpegReaderCtx(ctx context.Context, g *gateway, name, kind string) *reader {
	r := &reader{kind: kind, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		req, _ := http.NewRequestWithContext(ctx, "GET", g.base+"/mjpeg/"+name, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			r.err = err
			return
		}
		defer resp.Body.Close()
		_, r.err = io.Copy(io.Discard, resp.Body)
	}()
	g.waitReaders(name, "mjpeg", 5*time.Second)
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
			if events != nil && strings.HasPrefix(sc.Text(), "event: detections") {
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

// settle lets finished goroutines exit and returns freed memory.
func settle() {
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	debug.FreeOSMemory()
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

// matReport is set with matCount.
var matReport = func() string { return "" }

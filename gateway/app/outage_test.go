package app

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/internal/testcam"
)

// The camera vanishes and returns three times: the source retries by
// itself, a connected reader stays connected (the slate keeps its clock
// going), and the live picture resumes soon after each return.
func TestCameraOutagesAreSurvived(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	g := startGateway(t, fmt.Sprintf("reconnect: {min: 200ms, max: 500ms}\nsources:\n"+
		"  - name: flaky\n    url: %s\n    transport: tcp\n    read_timeout: 1s\n", cam.URL))
	g.waitRunning("flaky", 10*time.Second)

	done := testcam.ReadAsync(g.rtspURL("flaky"), "tcp", 15*time.Second)
	for i := range 3 {
		before := g.waitRunning("flaky", 5*time.Second).FramesIn
		cam.Close()
		st := g.waitState("flaky", manager.StateRetrying, 5*time.Second)
		if st.LastError == "" {
			t.Errorf("outage %d: status %+v", i, st)
		}
		time.Sleep(1500 * time.Millisecond) // the outage itself
		cam.Restart(t)
		back := time.Now()
		g.waitFramesAfter("flaky", before, 10*time.Second)
		t.Logf("outage %d: live again %v after the camera returned", i, time.Since(back).Round(time.Millisecond))
		if d := time.Since(back); d > 5*time.Second {
			t.Errorf("outage %d: resumed only after %v", i, d)
		}
	}
	res := <-done
	if res.Err != nil {
		t.Fatalf("the reader was disconnected: %v", res.Err)
	}
	if res.Reading.NonMonotonic > 0 {
		t.Errorf("%d non-monotonic timestamps across outages", res.Reading.NonMonotonic)
	}
	t.Logf("reader got %d frames over 15 s with 3 outages", res.Reading.Frames)
}

// waitState polls until the source is in state.
func (g *gateway) waitState(name, state string, within time.Duration) manager.Status {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st, err := g.Manager().Get(name); err == nil && st.State == state {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := g.Manager().Get(name)
	g.t.Fatalf("%s not %s within %v: %+v", name, state, within, st)
	return st
}

// waitReaders polls until name has at least n readers of protocol.
func (g *gateway) waitReaders(name, protocol string, n int, within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st, err := g.Manager().Get(name); err == nil && st.Readers[protocol] >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, _ := g.Manager().Get(name)
	g.t.Fatalf("%s: fewer than %d %s readers within %v: %+v", name, n, protocol, within, st.Readers)
}

// waitFramesAfter polls until more than n frames came in from the source.
func (g *gateway) waitFramesAfter(name string, n uint64, within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st, err := g.Manager().Get(name); err == nil && st.FramesIn > n && st.State == manager.StateRunning {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.t.Fatalf("%s produced no new frames within %v", name, within)
}

// Removing a source ends its camera session at once (RTSP TEARDOWN), also
// over UDP, where nothing else would tell the camera to stop sending.
func TestRemoveTearsDownTheCameraSession(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 160, Height: 120, FPS: 25})
	g := startGateway(t, fmt.Sprintf("sources:\n  - name: u\n    url: %s\n    transport: udp\n", cam.URL))
	g.waitRunning("u", 10*time.Second)
	if cam.Sessions() != 1 {
		t.Fatalf("camera has %d sessions", cam.Sessions())
	}
	if code, _ := g.do("DELETE", "/api/v1/sources/u", ""); code != 204 {
		t.Fatal("DELETE failed")
	}
	deadline := time.Now().Add(3 * time.Second)
	for cam.Sessions() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := cam.Sessions(); n != 0 {
		t.Errorf("camera still has %d sessions 3 s after DELETE", n)
	}
}

// A source that serves garbage (here HTTP with random bytes, and a TCP
// port that answers RTSP with noise) keeps retrying with its error in the
// status, and a healthy source next to it never notices.
func TestGarbageStreamsDoNotHurtOthers(t *testing.T) {
	noise := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp2t")
		_, _ = w.Write(noise)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = c.Write(noise[:4096]) }()
		}
	}()
	g := startGateway(t, fmt.Sprintf("allow_local_sources: true\nreconnect: {min: 100ms, max: 500ms}\nsources:\n"+
		"  - name: good\n    url: \"lavfi:testsrc2=size=160x120:rate=25\"\n"+
		"  - name: noise_http\n    url: %s/garbage.ts\n"+
		"  - name: noise_rtsp\n    url: rtsp://%s/cam\n    transport: tcp\n", srv.URL, ln.Addr()))
	g.waitRunning("good", 10*time.Second)
	for _, name := range []string{"noise_http", "noise_rtsp"} {
		st := g.waitState(name, manager.StateRetrying, 10*time.Second)
		if st.LastError == "" || st.FramesIn != 0 {
			t.Errorf("%s: %+v", name, st)
		}
	}
	before, _ := g.Manager().Get("good")
	time.Sleep(2 * time.Second) // let the bad sources fail a few more times
	after, _ := g.Manager().Get("good")
	if got := after.FramesIn - before.FramesIn; got < 40 || after.Attempts != 1 {
		t.Errorf("the healthy source made %d frames in 2 s (attempts %d) next to garbage", got, after.Attempts)
	}
}

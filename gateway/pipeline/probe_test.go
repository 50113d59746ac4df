package pipeline

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
)

// Probes go to the source URL's own host and port (or the scheme's
// default port), never anywhere else; UDP-based and local sources are
// not probed.
func TestProbeAddrIsTheSourcesOwnHost(t *testing.T) {
	cases := []struct{ url, want string }{
		{"rtsp://admin:s3cr%40t@192.168.1.20/Streaming/101", "192.168.1.20:554"},
		{"rtsp://cam.example:8554/live?x=evil.example:80", "cam.example:8554"},
		{"rtsps://cam.example/s", "cam.example:322"},
		{"rtmp://[fe80::1]/live/key", "[fe80::1]:1935"},
		{"rtmps://cdn.example/app", "cdn.example:443"},
		{"http://u:p@10.0.0.7:8080/video.mjpg", "10.0.0.7:8080"},
		{"https://hls.example/live/index.m3u8", "hls.example:443"},
		{"srt://10.0.0.7:9000", ""},
		{"udp://239.0.0.1:1234", ""},
		{"lavfi:testsrc2", ""},
		{"file:///tmp/a.mp4", ""},
	}
	for _, c := range cases {
		u, err := config.ParseSourceURL(c.url, true)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if got := probeAddr(u); got != c.want {
			t.Errorf("probeAddr(%s) = %q, want %q", c.url, got, c.want)
		}
	}
}

// fakeDial answers according to up(n) for the n-th call (from 1) and
// records where each call went.
type fakeDial struct {
	mu    sync.Mutex
	up    func(n int) bool
	addrs []string
}

func (f *fakeDial) dial(_ context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs = append(f.addrs, network+" "+addr)
	if !f.up(len(f.addrs)) {
		return nil, errRefused
	}
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

func (f *fakeDial) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.addrs...)
}

func testWaiter(d *fakeDial) *waiter {
	u, _ := config.ParseSourceURL("rtsp://user:pw@cam.test:8554/live", false)
	w := newWaiter(u, 10*time.Millisecond)
	w.dial = d.dial
	return w
}

// timedWait runs w.wait(d) and reports its result and how long it took;
// a wait still running after the test's patience fails the test.
func timedWait(t *testing.T, ctx context.Context, w retryWaiter, d time.Duration) (bool, time.Duration) {
	t.Helper()
	start := time.Now()
	res := make(chan bool, 1)
	go func() { res <- w.wait(ctx, d) }()
	select {
	case ok := <-res:
		return ok, time.Since(start)
	case <-time.After(patience):
		t.Fatalf("wait(%v) still running after %v", d, patience)
		return false, 0
	}
}

// A host that did not answer and then answers ends a long wait at once,
// and every probe went to the source's host.
func TestWaiterEndsTheWaitWhenTheHostComesBack(t *testing.T) {
	d := &fakeDial{up: func(n int) bool { return n >= 3 }}
	ok, took := timedWait(t, t.Context(), testWaiter(d), time.Hour)
	if !ok || took > patience {
		t.Fatalf("wait = %v after %v, want true long before the hour", ok, took)
	}
	calls := d.calls()
	if len(calls) != 3 {
		t.Errorf("%d probes, want 3 (down, down, up)", len(calls))
	}
	for _, c := range calls {
		if c != "tcp cam.test:8554" {
			t.Errorf("a probe went to %q", c)
		}
	}
}

// A dead host, and a host that answers all along (its stream is what
// fails), keep the whole backoff; both are probed during it.
func TestWaiterKeepsTheBackoffUnlessTheHostReturns(t *testing.T) {
	for _, c := range []struct {
		name string
		up   bool
	}{{"dead host", false}, {"host answering all along", true}} {
		t.Run(c.name, func(t *testing.T) {
			d := &fakeDial{up: func(int) bool { return c.up }}
			const backoff = 150 * time.Millisecond
			ok, took := timedWait(t, t.Context(), testWaiter(d), backoff)
			if !ok || took < backoff {
				t.Errorf("wait = %v after %v, want true after the full %v", ok, took, backoff)
			}
			if n := len(d.calls()); n < 3 {
				t.Errorf("%d probes during %v at 10ms, want several", n, backoff)
			}
		})
	}
}

// Waits no longer than the probe interval are plain sleeps.
func TestWaiterDoesNotProbeShortWaits(t *testing.T) {
	d := &fakeDial{up: func(int) bool { return true }}
	if ok, _ := timedWait(t, t.Context(), testWaiter(d), 10*time.Millisecond); !ok {
		t.Fatal("wait = false")
	}
	if n := len(d.calls()); n != 0 {
		t.Errorf("%d probes during a wait of one interval", n)
	}
}

// Cancelling the context (the pipeline stopping) ends a probing wait at
// once, and no probe runs after it returned.
func TestWaiterStopsWithItsContext(t *testing.T) {
	var once sync.Once
	ctx, cancel := context.WithCancel(t.Context())
	d := &fakeDial{up: func(n int) bool {
		if n == 2 {
			once.Do(cancel)
		}
		return false
	}}
	ok, took := timedWait(t, ctx, testWaiter(d), time.Hour)
	if ok || took > patience {
		t.Fatalf("wait = %v after %v, want false at once", ok, took)
	}
	n := len(d.calls())
	if n != 2 {
		t.Errorf("%d probes, want 2 (the second cancelled)", n)
	}
}

// Over a real socket: a port that refuses, then listens again, ends the
// wait.
func TestWaiterFindsAListenerThatReturns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	u, _ := config.ParseSourceURL("rtsp://"+addr+"/cam", false)
	w := newWaiter(u, 20*time.Millisecond)
	refusals := make(chan struct{}, 100)
	w.dial = func(ctx context.Context, network, a string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if err != nil {
			refusals <- struct{}{}
		}
		return c, err
	}
	res := make(chan bool, 1)
	go func() { res <- w.wait(t.Context(), time.Hour) }()
	select {
	case <-refusals:
	case <-time.After(patience):
		t.Fatal("no probe within the patience")
	}
	back, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", addr, err)
	}
	defer back.Close()
	select {
	case ok := <-res:
		if !ok {
			t.Error("wait = false")
		}
	case <-time.After(patience):
		t.Fatalf("the wait went on %v after %s listened again", patience, addr)
	}
}

// Stopping a pipeline that waits out a long backoff while probing
// returns at once, and leaves no goroutine and no probe behind.
func TestStopEndsAProbingBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	goroutines := runtime.NumGoroutine()
	p, h, _ := newScripted(t, Backoff{Min: time.Hour, Max: time.Hour}, nil)
	u, _ := config.ParseSourceURL("rtsp://"+addr+"/cam", false)
	w := newWaiter(u, 20*time.Millisecond)
	var probes atomic.Int32
	w.dial = func(ctx context.Context, network, a string) (net.Conn, error) {
		probes.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}
	p.waiter = w
	p.Start()
	deadline := time.Now().Add(patience)
	for probes.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if probes.Load() < 3 {
		t.Fatalf("%d probes of the closed port during the backoff, want 3", probes.Load())
	}
	stopped := time.Now()
	p.Stop()
	h.Close()
	if took := time.Since(stopped); took > time.Second {
		t.Errorf("Stop took %v during a probing backoff", took)
	}
	after := probes.Load()
	for n := runtime.NumGoroutine(); n > goroutines && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after Stop, %d before the pipeline", n, goroutines)
	}
	if n := probes.Load(); n != after {
		t.Errorf("%d probes after Stop returned", n-after)
	}
}

// fakePolicy refuses every address when deny is set.
type fakePolicy struct{ deny bool }

func (p fakePolicy) CheckHost(host string, _ []netip.Addr) error {
	if p.deny {
		return errors.New("egress: " + host + " refused")
	}
	return nil
}

// Under an egress policy that refuses the host, no probe connects and
// the backoff runs in full; one that allows it sees probes to the
// checked address only.
func TestWaiterProbesOnlyWhereEgressAllows(t *testing.T) {
	for _, c := range []struct {
		name  string
		deny  bool
		dials bool
	}{{"refused", true, false}, {"allowed", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			d := &fakeDial{up: func(int) bool { return false }}
			u, _ := config.ParseSourceURL("rtsp://10.1.2.3:8554/live", false)
			w := newWaiter(u, 10*time.Millisecond)
			w.dial, w.policy = d.dial, fakePolicy{deny: c.deny}
			const backoff = 100 * time.Millisecond
			if ok, took := timedWait(t, t.Context(), w, backoff); !ok || took < backoff {
				t.Errorf("wait = %v after %v, want true after the full %v", ok, took, backoff)
			}
			calls := d.calls()
			if (len(calls) > 0) != c.dials {
				t.Fatalf("%d probes connected, want connections: %v", len(calls), c.dials)
			}
			for _, call := range calls {
				if call != "tcp 10.1.2.3:8554" {
					t.Errorf("a probe went to %q", call)
				}
			}
		})
	}
}

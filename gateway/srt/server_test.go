package srt

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	srt "github.com/datarhei/gosrt"
	"go.uber.org/goleak"

	"github.com/visiongate/visiongate/gateway/publish"
)

// want is how much of ffmpeg's stream a test waits for.
const want = 100 << 10

var alice = []publish.Credentials{{User: "alice", Pass: "s3cret"}}

func TestFFmpegPublishes(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	s := startServer(t, b, nil)
	sk := startSink(t, b, "cam", want)
	f := startFFmpeg(t, s.ListenAddr(), "publish:cam", "")

	got := waitFor(t, sk.reached, "100 KB of MPEG-TS")
	if info := got.pub.Info(); info.Protocol != publish.SRT || info.Container != publish.ContainerMPEGTS ||
		!strings.HasPrefix(info.Remote, "127.0.0.1:") {
		t.Errorf("publisher info %+v", info)
	}
	probe(t, got.data)

	f.interrupt(t) // a clean end: ffmpeg closes its SRT socket
	ended := waitFor(t, sk.ended, "the publisher to end")
	if !errors.Is(ended.Err(), publish.ErrClosed) {
		t.Errorf("publisher ended with %v, want %v", ended.Err(), publish.ErrClosed)
	}
	_ = f.waitExit(t)
}

// probe checks with ffprobe that data is 640x360 H.264 in MPEG-TS.
func probe(t *testing.T, data []byte) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Log("no ffprobe: the stream's content is not checked")
		return
	}
	file := filepath.Join(t.TempDir(), "got.ts")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-f", "mpegts", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", file).Output()
	// It prints the stream once under its program, once on its own.
	lines := strings.Fields(string(out))
	if err != nil || len(lines) == 0 || slices.ContainsFunc(lines, func(l string) bool { return l != "h264,640,360" }) {
		t.Errorf("ffprobe: %q, %v; want h264,640,360", out, err)
	}
}

func TestFFmpegCredentials(t *testing.T) {
	b := newBroker(t, publish.Policy{}, alice, "cam")
	s := startServer(t, b, nil)
	sk := startSink(t, b, "cam", want)

	for _, id := range []string{"publish:cam", "publish:cam:alice:wrong", "publish:cam:bob:s3cret"} {
		if err := startFFmpeg(t, s.ListenAddr(), id, "").waitExit(t); err == nil {
			t.Errorf("ffmpeg with streamid %s exited cleanly, want refused", id)
		}
	}
	startFFmpeg(t, s.ListenAddr(), "publish:cam:alice:s3cret", "")
	got := waitFor(t, sk.reached, "100 KB from the authorized publisher")
	if got.pub.Info().Protocol != publish.SRT {
		t.Errorf("protocol %q", got.pub.Info().Protocol)
	}
}

func TestFFmpegUnknownSourceRefused(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	s := startServer(t, b, nil)
	if err := startFFmpeg(t, s.ListenAddr(), "publish:nosuch", "").waitExit(t); err == nil {
		t.Error("ffmpeg publishing to an unknown source exited cleanly")
	}
}

func TestSecondPublisherBusy(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	s := startServer(t, b, nil)
	sk := startSink(t, b, "cam", want)
	first := startFFmpeg(t, s.ListenAddr(), "publish:cam", "")
	got := waitFor(t, sk.reached, "the first publisher's stream")

	if err := startFFmpeg(t, s.ListenAddr(), "publish:cam", "").waitExit(t); err == nil {
		t.Error("the second ffmpeg exited cleanly, want refused")
	}
	_, err := dial(t, s.ListenAddr(), "publish:cam", nil)
	wantRejected(t, err, srt.REJX_CONFLICT)
	if !first.running() || got.pub.Err() != nil {
		t.Errorf("the first publisher was disturbed: running %v, err %v", first.running(), got.pub.Err())
	}
}

func TestOverrideTakesOver(t *testing.T) {
	b := newBroker(t, publish.Policy{Override: true}, nil, "cam")
	s := startServer(t, b, nil)
	sk := startSink(t, b, "cam", want)
	first := startFFmpeg(t, s.ListenAddr(), "publish:cam", "")
	one := waitFor(t, sk.reached, "the first publisher's stream")

	startFFmpeg(t, s.ListenAddr(), "publish:cam", "")
	if err := first.waitExit(t); err == nil {
		t.Error("the first ffmpeg exited cleanly after being taken over")
	}
	if ended := waitFor(t, sk.ended, "the first publisher to end"); ended != one.pub ||
		!errors.Is(ended.Err(), publish.ErrTakenOver) {
		t.Errorf("ended %p with %v, want %p with %v", ended, ended.Err(), one.pub, publish.ErrTakenOver)
	}
	if two := waitFor(t, sk.reached, "the second publisher's stream"); two.pub == one.pub {
		t.Error("the second publisher is the first one")
	}
}

func TestGarbageDisconnected(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	s := startServer(t, b, nil)
	sk := startSink(t, b, "cam", want)

	for _, garbage := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"),
		append([]byte{0x48}, tsPackets(7)[1:]...), // whole packets, a bad sync byte
	} {
		c, err := dial(t, s.ListenAddr(), "publish:cam", nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		dropped := closedByPeer(c)
		if _, err := c.Write(garbage); err != nil {
			t.Fatalf("write: %v", err)
		}
		waitFor(t, dropped, "the garbage publisher to be disconnected")
		if p := waitFor(t, sk.ended, "its publisher to end"); !errors.Is(p.Err(), ErrNotMPEGTS) {
			t.Errorf("publisher ended with %v, want %v", p.Err(), ErrNotMPEGTS)
		}
	}
	startFFmpeg(t, s.ListenAddr(), "publish:cam", "")
	waitFor(t, sk.reached, "a real publisher's stream after the garbage")
}

func TestStalledPublisherDropped(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	const timeout = 300 * time.Millisecond
	s := startServer(t, b, func(s *Server) { s.ReadTimeout = timeout })
	sk := startSink(t, b, "cam", 7*tsPacketSize)

	c, err := dial(t, s.ListenAddr(), "publish:cam", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	dropped := closedByPeer(c)
	if _, err := c.Write(tsPackets(7)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := waitFor(t, sk.reached, "the first chunk")
	start := time.Now()
	waitFor(t, dropped, "the stalled publisher to be dropped")
	if p := waitFor(t, sk.ended, "its publisher to end"); p != got.pub || !errors.Is(p.Err(), ErrReadTimeout) {
		t.Errorf("publisher ended with %v, want %v", p.Err(), ErrReadTimeout)
	}
	// Dropped by the server's read timeout, not gosrt's 5 s idle timeout.
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("dropped after %v with a %v read timeout", d, timeout)
	}
}

func TestSourceRemovedDisconnects(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	s := startServer(t, b, nil)
	sk := startSink(t, b, "cam", 7*tsPacketSize)
	c, err := dial(t, s.ListenAddr(), "publish:cam", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	dropped := closedByPeer(c)
	if _, err := c.Write(tsPackets(7)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := waitFor(t, sk.reached, "the first chunk")
	b.Remove("cam")
	waitFor(t, dropped, "the publisher to be disconnected")
	if !errors.Is(got.pub.Err(), publish.ErrSourceGone) {
		t.Errorf("publisher ended with %v, want %v", got.pub.Err(), publish.ErrSourceGone)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	before := goleak.IgnoreCurrent()
	b := newBroker(t, publish.Policy{}, nil, "cam")
	s := &Server{Addr: "127.0.0.1:0", Broker: b, Log: testLogger(t)}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	sk := startSink(t, b, "cam", want)
	f := startFFmpeg(t, s.ListenAddr(), "publish:cam", "")
	got := waitFor(t, sk.reached, "the stream")

	s.Close()
	// Close waits: none of the server's own goroutines may remain, at once.
	if left := serverGoroutines(); len(left) > 0 {
		t.Errorf("server goroutines running after Close:\n%s", strings.Join(left, "\n\n"))
	}
	select {
	case <-got.pub.Done():
	default:
		t.Error("Close returned before its publisher ended")
	}
	if p := waitFor(t, sk.ended, "the publisher to end"); !errors.Is(p.Err(), publish.ErrGatewayClosed) {
		t.Errorf("publisher ended with %v, want %v", p.Err(), publish.ErrGatewayClosed)
	}
	if err := f.waitExit(t); err == nil {
		t.Error("ffmpeg exited cleanly after the server closed")
	}
	sk.stop()
	if err := goleak.Find(append(clientLeaks, before)...); err != nil {
		t.Errorf("goroutines left after Close: %v", err)
	}
	if err := s.Start(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	s.Close() // twice is fine
}

func TestStartErrors(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	for _, s := range []*Server{
		{Addr: "127.0.0.1:0"},
		{Addr: "127.0.0.1:0", Broker: b, Passphrase: "short"},
	} {
		if err := s.Start(); !errors.Is(err, ErrConfig) {
			t.Errorf("Start: %v, want %v", err, ErrConfig)
		}
	}
	if err := (&Server{Addr: "bad address", Broker: b}).Start(); err == nil {
		t.Error("Start on a bad address succeeded")
	}
	s := startServer(t, b, nil)
	if err := s.Start(); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start: %v", err)
	}
	if (&Server{}).ListenAddr() != "" {
		t.Error("ListenAddr before Start is not empty")
	}
}

// serverFrame is a stack frame in the package's non-test files.
var serverFrame = regexp.MustCompile(`/gateway/srt/[a-z]+\.go:`)

// serverGoroutines returns the stacks of goroutines running the server's
// code (tests' goroutines and gosrt's own are not counted).
func serverGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var ours []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		body, _, _ := strings.Cut(g, "\ncreated by ")
		if serverFrame.MatchString(body) {
			ours = append(ours, g)
		}
	}
	return ours
}

// gateHandler holds the first log record with message msg until gate
// closes, to keep a connection's goroutine running.
type gateHandler struct {
	slog.Handler
	msg     string
	entered chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (h *gateHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.entered) })
		<-h.gate
	}
	return h.Handler.Handle(ctx, r)
}

func TestCloseWaitsForConnections(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	h := &gateHandler{Handler: testLogger(t).Handler(), msg: "srt: publisher left",
		entered: make(chan struct{}), gate: make(chan struct{})}
	var open sync.Once
	t.Cleanup(func() { open.Do(func() { close(h.gate) }) })
	s := startServer(t, b, func(s *Server) { s.Log = slog.New(h) })
	sk := startSink(t, b, "cam", 7*tsPacketSize)
	c, err := dial(t, s.ListenAddr(), "publish:cam", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if _, err := c.Write(tsPackets(7)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sk.reached, "the first chunk")

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		s.Close()
	}()
	waitFor(t, h.entered, "the connection's last log line")
	select {
	case <-closed:
		t.Error("Close returned while a connection's goroutine was still running")
	case <-time.After(200 * time.Millisecond): // Close must still be waiting
	}
	open.Do(func() { close(h.gate) })
	waitFor(t, closed, "Close to return")
}

package srt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	srt "github.com/datarhei/gosrt"
	"github.com/datarhei/gosrt/packet"
	"go.uber.org/goleak"

	"github.com/visiongate/visiongate/gateway/publish"
)

// gosrt's client (used only by these tests) leaves two goroutines behind
// after a refused or closed Dial: its socket reader blocks on an
// unbuffered channel, and its connection-timeout timer is never stopped.
var clientLeaks = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/datarhei/gosrt.Dial.func1"),
	goleak.IgnoreTopFunction("github.com/datarhei/gosrt.Dial.func3"),
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, clientLeaks...) }

// waitLimit bounds every wait: generous, for -race on busy machines.
const waitLimit = 30 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newBroker makes a broker whose sources are names, with policy pol.
func newBroker(t *testing.T, pol publish.Policy, users []publish.Credentials, names ...string) *publish.Broker {
	t.Helper()
	b := publish.New(publish.Options{
		Lookup: func(name string) (publish.Policy, bool) {
			for _, n := range names {
				if n == name {
					return pol, true
				}
			}
			return publish.Policy{}, false
		},
		Users: users, Required: len(users) > 0,
	})
	t.Cleanup(b.Close)
	return b
}

// startServer starts a server on loopback, port 0.
func startServer(t *testing.T, b *publish.Broker, mod func(*Server)) *Server {
	t.Helper()
	s := &Server{Addr: "127.0.0.1:0", Broker: b, Log: testLogger(t)}
	if mod != nil {
		mod(s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// tsPackets makes n MPEG-TS null packets.
func tsPackets(n int) []byte {
	pk := make([]byte, tsPacketSize)
	pk[0], pk[1], pk[2], pk[3] = tsSync, 0x1f, 0xff, 0x10
	for i := 4; i < len(pk); i++ {
		pk[i] = 0xff
	}
	return bytes.Repeat(pk, n)
}

// received is what a sink got from one publisher.
type received struct {
	pub  *publish.Publisher
	data []byte // the first bytes, up to the sink's want
}

// sink is a fake publish source: it awaits a publisher of its name, reads
// it to the end, checks the TS sync bytes, then awaits the next one.
type sink struct {
	t       *testing.T
	want    int
	reached chan received           // a publisher that sent want bytes
	ended   chan *publish.Publisher // a publisher whose stream ended
	stop    func()                  // ends it and waits; also at cleanup
}

func startSink(t *testing.T, b *publish.Broker, name string, want int) *sink {
	s := &sink{t: t, want: want, reached: make(chan received, 16), ended: make(chan *publish.Publisher, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, err := b.Await(ctx, name)
			if err != nil {
				return
			}
			s.drain(ctx, p)
		}
	}()
	var once sync.Once
	s.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(s.stop)
	return s
}

func (s *sink) drain(ctx context.Context, p *publish.Publisher) {
	defer p.Release()
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	total, sent := 0, false
	for {
		n, err := p.ReadContext(ctx, buf)
		for i := range n {
			if (total+i)%tsPacketSize == 0 && buf[i] != tsSync {
				s.t.Errorf("sink: byte %d is %#x, not the TS sync byte", total+i, buf[i])
				return
			}
		}
		if got.Len() < s.want {
			got.Write(buf[:min(n, s.want-got.Len())])
		}
		total += n
		if !sent && total >= s.want {
			sent = true
			s.reached <- received{pub: p, data: got.Bytes()}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.ended <- p
			}
			return
		}
	}
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// dial connects a gosrt client with streamid.
func dial(t *testing.T, addr, streamID string, mod func(*srt.Config)) (srt.Conn, error) {
	t.Helper()
	cfg := srt.DefaultConfig()
	cfg.StreamId = streamID
	if mod != nil {
		mod(&cfg)
	}
	c, err := srt.Dial("srt", addr, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// wantRejected checks that err is a refusal with reason.
func wantRejected(t *testing.T, err error, reason srt.RejectionReason) {
	t.Helper()
	want := packet.HandshakeType(reason).String()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("dial error %v, want a rejection %s (%d)", err, want, reason)
	}
}

// closedByPeer is closed once c's reads fail: the server dropped it.
func closedByPeer(c srt.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	return done
}

// ffmpeg is an ffmpeg process publishing a test pattern over SRT.
type ffmpeg struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
	err    error // of Wait, once done is closed
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: run make setup", name)
	}
}

var (
	libsrtOnce sync.Once
	hasLibsrt  bool
)

func needFFmpegSRT(t *testing.T) {
	t.Helper()
	needTool(t, "ffmpeg")
	libsrtOnce.Do(func() {
		out, _ := exec.Command("ffmpeg", "-hide_banner", "-protocols").Output()
		hasLibsrt = strings.Contains(string(out), "\n  srt\n")
	})
	if !hasLibsrt {
		t.Fatal("ffmpeg lacks libsrt (Debian's ffmpeg has it)")
	}
}

// startFFmpeg publishes 640x360 H.264 in MPEG-TS to srt://addr with
// streamID; query adds SRT options.
func startFFmpeg(t *testing.T, addr, streamID, query string) *ffmpeg {
	t.Helper()
	needFFmpegSRT(t)
	url := fmt.Sprintf("srt://%s?streamid=%s&pkt_size=1316%s", addr, streamID, query)
	f := &ffmpeg{done: make(chan struct{})}
	f.cmd = exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "120",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-f", "mpegts", url)
	f.cmd.Stderr = &f.stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	go func() {
		f.err = f.cmd.Wait()
		close(f.done)
	}()
	t.Cleanup(func() {
		_ = f.cmd.Process.Kill() // fails once it has exited
		<-f.done
	})
	return f
}

// waitExit waits for ffmpeg to end and returns its error.
func (f *ffmpeg) waitExit(t *testing.T) error {
	t.Helper()
	waitFor(t, f.done, "ffmpeg to exit")
	t.Logf("ffmpeg exited: %v: %s", f.err, strings.TrimSpace(f.stderr.String()))
	return f.err
}

// running tells whether ffmpeg still runs.
func (f *ffmpeg) running() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// interrupt asks ffmpeg to finish as after Ctrl-C.
func (f *ffmpeg) interrupt(t *testing.T) {
	t.Helper()
	if err := f.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupting ffmpeg: %v", err)
	}
}

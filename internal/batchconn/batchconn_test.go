package batchconn

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any flusher (or other goroutine) outlives
// the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counting counts the real writes under a Conn: one per write syscall on
// loopback for the sizes used here.
type counting struct {
	net.Conn
	writes atomic.Int64
}

func (c *counting) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// pair connects over loopback and returns the wrapped server side, the
// counter under it and the client side. Both ends close when t ends.
func pair(t testing.TB, o Options) (*Conn, *counting, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	cnt := &counting{Conn: srv}
	bc := New(cnt, o)
	t.Cleanup(func() { bc.Close(); cli.Close() })
	return bc, cnt, cli
}

// payload returns n deterministic bytes for the write at index i.
func payload(i, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(i), uint64(n)))
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// transfer writes sizes in order, closes, and checks that the peer got
// exactly their concatenation.
func transfer(t testing.TB, o Options, sizes []int) {
	t.Helper()
	bc, _, cli := pair(t, o)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(cli)
		got <- b
	}()
	want := sha256.New()
	total := 0
	bc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for i, n := range sizes {
		p := payload(i, n)
		want.Write(p)
		total += n
		if k, err := bc.Write(p); k != n || err != nil {
			t.Fatalf("write %d: %d, %v; want %d, nil", i, k, err, n)
		}
	}
	if err := bc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b := <-got
	if len(b) != total {
		t.Fatalf("peer got %d bytes, want %d", len(b), total)
	}
	if h := sha256.Sum256(b); !bytes.Equal(h[:], want.Sum(nil)) {
		t.Fatal("peer got different bytes")
	}
}

func repeat(n, count int) []int {
	s := make([]int, count)
	for i := range s {
		s[i] = n
	}
	return s
}

var transferCases = []struct {
	name  string
	o     Options
	sizes []int
}{
	{"many small frames", Options{}, repeat(1404, 800)},
	{"tiny and empty", Options{}, []int{0, 1, 0, 2, 3, 0, 5, 8, 13, 0}},
	{"over FlushSize", Options{FlushSize: 4096}, repeat(1500, 200)},
	{"over MaxPending", Options{MaxPending: 4096, FlushSize: 1024}, []int{10000, 1, 50000, 3, 4096, 4097}},
	{"no delay", Options{Delay: -1}, repeat(100, 2000)},
	{"big backlog", Options{MaxPending: 1 << 20}, repeat(64<<10, 40)},
	{"mixed", Options{Delay: 50 * time.Microsecond, MaxPending: 20000}, []int{7, 1400, 65536, 3, 0, 19999, 20001, 1, 1400, 1400}},
}

func TestTransfer(t *testing.T) {
	for _, tc := range transferCases {
		t.Run(tc.name, func(t *testing.T) { transfer(t, tc.o, tc.sizes) })
	}
}

// TestBurstCoalesces: an access unit's packets, written in a tight loop,
// leave in one real write (a few if the writer is descheduled for longer
// than Delay; 10 ms keeps that rare on a loaded test machine).
func TestBurstCoalesces(t *testing.T) {
	bc, cnt, cli := pair(t, Options{Delay: 10 * time.Millisecond})
	p := payload(0, 1400)
	for range 40 {
		if _, err := bc.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.ReadFull(cli, make([]byte, 40*1400)); err != nil {
		t.Fatal(err)
	}
	if n := cnt.writes.Load(); n < 1 || n > 3 {
		t.Fatalf("40 writes of 1400 bytes took %d real writes, want 1-3", n)
	}
}

// stalled returns a pair whose client never reads, with small socket
// buffers so the kernel soaks up little.
func stalled(t *testing.T, o Options) (*Conn, net.Conn) {
	bc, cnt, cli := pair(t, o)
	cnt.Conn.(*net.TCPConn).SetWriteBuffer(16 << 10)
	cli.(*net.TCPConn).SetReadBuffer(16 << 10)
	return bc, cli
}

// fill writes 1400-byte frames until Write fails, and returns the bytes
// accepted, the time it took and the error.
func fill(t *testing.T, bc *Conn) (int, time.Duration, error) {
	p := payload(0, 1400)
	start := time.Now()
	total := 0
	for time.Since(start) < 20*time.Second {
		n, err := bc.Write(p)
		total += n
		if err != nil {
			return total, time.Since(start), err
		}
	}
	t.Error("Write never failed")
	return total, time.Since(start), nil
}

func TestStalledReaderTimesOut(t *testing.T) {
	const maxPending = 64 << 10
	bc, _ := stalled(t, Options{MaxPending: maxPending})
	bc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	total, took, err := fill(t, bc)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want a net.Error timeout wrapping os.ErrDeadlineExceeded", err)
	}
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("Write failed after %v, want about 300ms", took)
	}
	// The kernel buffers a few hundred KiB at most; the rest is ours.
	if total > maxPending+(1<<20) {
		t.Errorf("accepted %d bytes from a stalled reader", total)
	}
	bc.mu.Lock()
	held := cap(bc.pend) + cap(bc.fly)
	bc.mu.Unlock()
	if held > 2*maxPending {
		t.Errorf("buffers hold %d bytes, want <= %d", held, 2*maxPending)
	}
	if _, err := bc.Write([]byte{1}); err == nil {
		t.Error("Write after a timeout succeeded")
	}
	start := time.Now()
	bc.Close()
	if d := time.Since(start); d > 2*closeTimeout {
		t.Errorf("Close took %v", d)
	}
}

// TestStalledReaderGortsplibStyle: gortsplib sets now+WriteTimeout before
// every Write. As Writes here return at once, that must not keep pushing
// the deadline of a stuck real write: the stall is reported about one
// WriteTimeout after it began, long before MaxPending fills.
func TestStalledReaderGortsplibStyle(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	bc, _ := stalled(t, Options{})
	p := payload(0, 1400)
	start := time.Now()
	total := 0
	var err error
	for err == nil && time.Since(start) < 10*time.Second {
		for range 8 { // an access unit every 5 ms: ~2.2 MB/s
			bc.SetWriteDeadline(time.Now().Add(writeTimeout))
			var n int
			if n, err = bc.Write(p); err != nil {
				break
			}
			total += n
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v after %v, want a deadline error", err, took)
	}
	if took > 2*time.Second || total >= DefaultMaxPending {
		t.Errorf("stall reported after %v and %d bytes, want about %v", took, total, writeTimeout)
	}
}

// TestSlowReaderBackpressure: a reader slower than the writer but alive
// slows Write down (it blocks for room) without a timeout, and gets
// every byte.
func TestSlowReaderBackpressure(t *testing.T) {
	const maxPending = 64 << 10
	bc, cli := stalled(t, Options{MaxPending: maxPending})
	got := make(chan int, 1)
	go func() { // ~800 KB/s
		n := 0
		buf := make([]byte, 16<<10)
		for {
			time.Sleep(20 * time.Millisecond)
			k, err := cli.Read(buf)
			n += k
			if err != nil {
				got <- n
				return
			}
		}
	}()
	p := payload(0, 1400)
	total := 0
	blocked := false
	for start := time.Now(); time.Since(start) < time.Second; {
		bc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		t0 := time.Now()
		n, err := bc.Write(p)
		if err != nil {
			t.Fatalf("Write after %d bytes: %v", total, err)
		}
		total += n
		blocked = blocked || time.Since(t0) > 5*time.Millisecond
	}
	if !blocked {
		t.Error("Write never blocked for room")
	}
	bc.Close()
	if n := <-got; n != total {
		t.Fatalf("reader got %d bytes, want %d", n, total)
	}
}

// blockedWrite starts filling a stalled conn with no deadline and returns
// the channel its error arrives on, once the Write is blocked.
func blockedWrite(t *testing.T) (*Conn, <-chan error) {
	bc, _ := stalled(t, Options{MaxPending: 32 << 10})
	errc := make(chan error, 1)
	go func() {
		_, _, err := fill(t, bc)
		errc <- err
	}()
	waitFor(t, "a blocked Write", func() bool {
		bc.mu.Lock()
		defer bc.mu.Unlock()
		return bc.wake != nil
	})
	return bc, errc
}

func TestDeadlineUnblocksWrite(t *testing.T) {
	bc, errc := blockedWrite(t)
	bc.SetWriteDeadline(time.Now())
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SetWriteDeadline did not unblock Write")
	}
}

func TestCloseUnblocksWrite(t *testing.T) {
	bc, errc := blockedWrite(t)
	go bc.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("err = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Write")
	}
}

func TestExpiredDeadline(t *testing.T) {
	bc, _, cli := pair(t, Options{Delay: -1})
	bc.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := bc.Write([]byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline = %d, %v", n, err)
	}
	// Nothing was sent, so the conn is still usable, as a plain one is.
	bc.SetWriteDeadline(time.Time{})
	if _, err := bc.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	if _, err := io.ReadFull(cli, b); err != nil || string(b) != "ok" {
		t.Fatalf("read %q, %v", b, err)
	}
}

func TestCloseFlushes(t *testing.T) {
	bc, _, cli := pair(t, Options{Delay: time.Hour})
	want := payload(1, 10000)
	bc.Write(want)
	start := time.Now()
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	got, err := io.ReadAll(cli)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("peer got %d bytes, %v; want the %d written", len(got), err, len(want))
	}
	if err := bc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	if _, err := bc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
}

// failing fails every real write.
type failing struct{ net.Conn }

var errBoom = errors.New("boom")

func (failing) Write([]byte) (int, error) { return 0, errBoom }

func TestWriteErrorSticks(t *testing.T) {
	_, cnt, _ := pair(t, Options{})
	bc := New(failing{cnt.Conn}, Options{Delay: -1})
	defer bc.Close()
	if _, err := bc.Write([]byte("queued")); err != nil {
		t.Fatalf("first Write = %v, want nil (it is only buffered)", err)
	}
	waitFor(t, "the real write error", func() bool {
		_, err := bc.Write([]byte("x"))
		return errors.Is(err, errBoom)
	})
}

func TestListenerPassesAddrs(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Wrap(raw, Options{})
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*Conn); !ok {
		t.Fatalf("Accept returned %T", c)
	}
	// gortsplib does sc.nconn.RemoteAddr().(*net.TCPAddr).
	ra, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok || ra.String() != cli.LocalAddr().String() {
		t.Errorf("RemoteAddr = %#v, want %v", c.RemoteAddr(), cli.LocalAddr())
	}
	if c.LocalAddr().String() != cli.RemoteAddr().String() {
		t.Errorf("LocalAddr = %v, want %v", c.LocalAddr(), cli.RemoteAddr())
	}
	// Reads pass through.
	cli.Write([]byte("ping"))
	b := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("Read = %q, %v", b, err)
	}
}

func TestNoGoroutinesAfterClose(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	for i := range 20 {
		bc, _, cli := pair(t, Options{})
		bc.Write(payload(i, 3000))
		bc.Close()
		cli.Close()
	}
	goleak.VerifyNone(t, ignore) // retries until the flushers are gone
}

// TestSteadyStateAllocs: once both buffers have grown, Write allocates
// nothing (the flusher neither).
func TestSteadyStateAllocs(t *testing.T) {
	const maxPending = 256 << 10
	bc, _, cli := pair(t, Options{MaxPending: maxPending})
	go io.Copy(io.Discard, cli) //nolint:errcheck // ends when the conn closes
	p := payload(0, 1400)
	for range 20 * maxPending / len(p) {
		bc.Write(p)
	}
	allocs := testing.AllocsPerRun(2000, func() {
		bc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // as gortsplib does
		bc.Write(p)
	})
	if allocs > 0 {
		t.Errorf("%v allocations per Write, want 0", allocs)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestTryWrite: all or nothing, never blocking, and final errors apart
// from ErrFull.
func TestTryWrite(t *testing.T) {
	const maxPending = 32 << 10
	bc, cli := stalled(t, Options{MaxPending: maxPending})
	p := payload(0, 1400)
	accepted := 0
	for {
		err := bc.TryWrite(p)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatalf("TryWrite: %v", err)
		}
		accepted++
		if accepted > 100000 {
			t.Fatal("TryWrite never reported ErrFull on a stalled conn")
		}
	}
	if got := bc.Writes(); got != uint64(accepted) {
		t.Errorf("Writes() = %d, want %d", got, accepted)
	}
	bc.mu.Lock()
	buffered := len(bc.pend) + bc.flying
	bc.mu.Unlock()
	if buffered > maxPending || buffered%len(p) != 0 {
		t.Errorf("%d bytes buffered: a refused TryWrite queued part of its bytes", buffered)
	}
	// Reading frees room: the same write goes in later.
	go io.Copy(io.Discard, cli)
	waitFor(t, "room after the peer reads", func() bool { return bc.TryWrite(p) == nil })
	bc.Close()
	if err := bc.TryWrite(p); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("TryWrite after Close = %v, want net.ErrClosed", err)
	}
}

// TestTryWriteDoesNotWaitBehindWrite: a Write blocked for room makes
// TryWrite answer ErrFull at once instead of queueing behind it.
func TestTryWriteDoesNotWaitBehindWrite(t *testing.T) {
	bc, errc := blockedWrite(t)
	done := make(chan error, 1)
	go func() { done <- bc.TryWrite([]byte("x")) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrFull) {
			t.Fatalf("TryWrite = %v, want ErrFull", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("TryWrite blocked behind a blocked Write")
	}
	bc.Close()
	<-errc
}

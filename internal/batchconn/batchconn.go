// Package batchconn coalesces the many small writes a server makes on a
// connection into few write syscalls.
//
// gortsplib writes one interleaved frame per RTP packet per TCP reader, each
// a write syscall; the packets of one access unit are written in a tight
// loop. A Conn from this package copies each Write into a pending buffer and
// returns; its flusher goroutine sends everything pending in one real Write
// Delay after the first pending byte, or at once when FlushSize bytes pile
// up. The cost is latency: every burst leaves up to Delay (default 1 ms)
// later than it would have, RTSP responses included.
//
// Backpressure: at most MaxPending bytes are buffered (pending plus not yet
// written); past that Write blocks until the flusher makes room, the write
// deadline passes, or the Conn is closed. The write deadline also bounds
// the flusher's real writes, so a reader that stops reading fails a Write
// with a timeout, as a plain net.Conn would.
package batchconn

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull is TryWrite's answer when the bytes do not fit now: MaxPending
// are buffered, or a blocked Write holds the Conn.
var ErrFull = errors.New("batchconn: buffer full")

// Defaults for the zero fields of Options.
const (
	DefaultDelay      = time.Millisecond
	DefaultFlushSize  = 64 << 10
	DefaultMaxPending = 4 << 20
)

const (
	// maxWrite caps one real write once a backlog has built up, so a slow
	// but live reader frees room (and sees deadline extensions) in steps
	// instead of having to take MaxPending bytes within one deadline.
	maxWrite = 256 << 10
	// closeTimeout bounds how long Close waits for pending bytes to leave.
	closeTimeout = time.Second
)

// Options tunes a Conn. The zero value means the defaults.
type Options struct {
	// Delay is how long the first pending byte waits for company before
	// the flush: added latency on every write burst. Zero means
	// DefaultDelay; negative means flush as soon as the flusher runs (bytes
	// still coalesce while a real write is in flight).
	Delay time.Duration
	// FlushSize is the pending size that triggers a flush without waiting
	// for Delay. Zero means DefaultFlushSize.
	FlushSize int
	// MaxPending caps the bytes buffered per connection; past it Write
	// blocks. Memory per connection is at most about 2×MaxPending. Zero
	// means DefaultMaxPending.
	MaxPending int
}

func (o Options) withDefaults() Options {
	if o.Delay == 0 {
		o.Delay = DefaultDelay
	}
	if o.FlushSize <= 0 {
		o.FlushSize = DefaultFlushSize
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	// A full buffer must always be worth flushing at once.
	o.FlushSize = min(o.FlushSize, o.MaxPending)
	return o
}

// Wrap returns a listener whose accepted connections coalesce writes. Each
// accepted Conn owns a flusher goroutine until it is closed.
func Wrap(ln net.Listener, o Options) net.Listener {
	return &listener{Listener: ln, o: o.withDefaults()}
}

type listener struct {
	net.Listener
	o Options
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return New(c, l.o), nil
}

// Conn is a net.Conn whose writes are buffered and coalesced. Reads,
// addresses and the read deadline go straight to the wrapped conn.
type Conn struct {
	nc     net.Conn
	o      Options
	kick   chan struct{} // capacity 1: wakes the flusher
	timer  *time.Timer   // fires Delay after the first pending byte
	exited chan struct{} // closed when the flusher returns

	wmu    sync.Mutex    // held across a Write, so concurrent Writes never interleave
	writes atomic.Uint64 // Writes and TryWrites that queued all their bytes

	mu      sync.Mutex
	pend    []byte    // written, waiting for the flusher
	fly     []byte    // the flusher's buffer; swapped with pend
	flying  int       // bytes of fly not yet written
	firstAt time.Time // when pend became non-empty
	wdl     time.Time // write deadline, as the caller set it
	flyDL   time.Time // deadline of the real write in flight
	err     error     // first real write error; sticky
	closing bool
	wake    chan struct{} // closed to wake blocked Writes; nil when none wait

	closeOnce sync.Once
	closeErr  error
}

// New wraps c and starts its flusher; Close stops it.
func New(c net.Conn, o Options) *Conn {
	bc := &Conn{nc: c, o: o.withDefaults(), kick: make(chan struct{}, 1), exited: make(chan struct{})}
	bc.timer = time.NewTimer(time.Hour)
	bc.timer.Stop()
	go bc.run()
	return bc
}

// NetConn returns the wrapped conn, e.g. for socket options. Writing to it
// directly bypasses (and reorders against) the pending bytes.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Read, like LocalAddr, RemoteAddr and SetReadDeadline, passes through
// untouched; RemoteAddr is the wrapped conn's own value (a *net.TCPAddr for
// TCP, which gortsplib asserts).
func (c *Conn) Read(p []byte) (int, error)        { return c.nc.Read(p) }
func (c *Conn) LocalAddr() net.Addr               { return c.nc.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr              { return c.nc.RemoteAddr() }
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.nc.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetWriteDeadline bounds blocked Writes at once and the flusher's real
// writes from the next one on. Each real write gets the deadline current
// when it starts, so bytes must leave within the deadline that was set
// when they were written, as on a plain conn. An earlier deadline also cuts
// short the real write in flight (to abort); a later one does not extend
// it: gortsplib sets now+WriteTimeout before every Write, and since Writes
// here return at once, extending would let a dead reader live until
// MaxPending fills instead of WriteTimeout after it stopped reading.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return c.opError("set", net.ErrClosed)
	}
	c.wdl = t
	c.notify() // blocked Writes re-arm their timers
	if c.flying > 0 && !t.IsZero() && (c.flyDL.IsZero() || t.Before(c.flyDL)) {
		c.flyDL = t
		return c.nc.SetWriteDeadline(t)
	}
	return nil
}

// Write copies p into the pending buffer. It blocks only while MaxPending
// bytes are buffered; an error from an earlier real write is returned here.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for {
		if err := c.writeErr(); err != nil {
			return n, err
		}
		if room := c.o.MaxPending - len(c.pend) - c.flying; room > 0 {
			k := min(room, len(p)-n)
			c.queue(p[n : n+k])
			n += k
		}
		if n == len(p) {
			c.writes.Add(1)
			return n, nil
		}
		c.waitRoom()
	}
}

// TryWrite queues all of p or nothing, and never blocks: it returns
// ErrFull when p does not fit, so a fan-out can drop for this reader only.
// Errors other than ErrFull (closed, deadline passed, a failed real write)
// are final, as from Write.
func (c *Conn) TryWrite(p []byte) error {
	if !c.wmu.TryLock() {
		return ErrFull // a Write is waiting for room
	}
	defer c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writeErr(); err != nil {
		return err
	}
	if len(p) > c.o.MaxPending-len(c.pend)-c.flying {
		return ErrFull
	}
	c.queue(p)
	c.writes.Add(1)
	return nil
}

// Writes counts the Write and TryWrite calls that have queued all their
// bytes: a caller that saw n can tell when the next write has gone in.
func (c *Conn) Writes() uint64 { return c.writes.Load() }

// writeErr says why a Write cannot go on; c.mu is held.
func (c *Conn) writeErr() error {
	switch {
	case c.closing:
		return c.opError("write", net.ErrClosed)
	case c.err != nil:
		return c.err
	case !c.wdl.IsZero() && !time.Now().Before(c.wdl):
		return c.opError("write", os.ErrDeadlineExceeded)
	}
	return nil
}

// queue appends b to pend. The first pending byte arms the timer (rather
// than waking the flusher only for it to arm one: a wakeup saved per
// burst); reaching FlushSize wakes the flusher at once. c.mu is held.
func (c *Conn) queue(b []byte) {
	if len(b) == 0 {
		return
	}
	was := len(c.pend)
	c.pend = grow(c.pend, len(b), c.o.MaxPending)
	c.pend = append(c.pend, b...)
	switch {
	case len(c.pend) >= c.o.FlushSize && was < c.o.FlushSize:
		c.signal()
	case was > 0:
	case c.o.Delay > 0:
		c.firstAt = time.Now()
		c.timer.Reset(c.o.Delay)
	default:
		c.signal()
	}
}

// grow makes room for n more bytes without append's overshoot past limit,
// so a full buffer costs MaxPending, not up to twice that.
func grow(b []byte, n, limit int) []byte {
	need := len(b) + n
	if need <= cap(b) {
		return b
	}
	nb := make([]byte, len(b), min(max(2*cap(b), need), max(limit, need)))
	copy(nb, b)
	return nb
}

// waitRoom sleeps until the flusher frees room, the deadline or Close
// changes, or the deadline passes; c.mu is held and re-taken.
func (c *Conn) waitRoom() {
	if c.wake == nil {
		c.wake = make(chan struct{})
	}
	wake, dl := c.wake, c.wdl
	c.mu.Unlock()
	defer c.mu.Lock()
	if dl.IsZero() {
		<-wake
		return
	}
	t := time.NewTimer(time.Until(dl))
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C: // writeErr reports the timeout
	}
}

// notify wakes blocked Writes; c.mu is held.
func (c *Conn) notify() {
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

func (c *Conn) signal() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// opError dresses err like the *net.OpError a plain conn returns, so
// net.Error's Timeout and errors.Is(err, os.ErrDeadlineExceeded) work.
func (c *Conn) opError(op string, err error) error {
	la := c.nc.LocalAddr()
	return &net.OpError{Op: op, Net: la.Network(), Source: la, Addr: c.nc.RemoteAddr(), Err: err}
}

// run is the flusher. Each turn it reads the state and either sleeps
// until the timer or a kick (FlushSize, Close), flushes, or returns once
// closing with nothing left to send. Wakeups are only hints: the state
// decides, so a stale kick or timer cannot flush a burst before Delay.
func (c *Conn) run() {
	defer close(c.exited)
	defer c.timer.Stop()
	for {
		c.mu.Lock()
		idle := len(c.pend) == 0 || c.err != nil
		urgent := c.closing || len(c.pend) >= c.o.FlushSize
		early := c.o.Delay > 0 && time.Since(c.firstAt) < c.o.Delay
		closing := c.closing
		c.mu.Unlock()
		switch {
		case idle && closing:
			return
		case idle || (early && !urgent):
			select {
			case <-c.kick:
			case <-c.timer.C:
			}
		default:
			c.flush()
		}
	}
}

// flush sends everything pending: one real write unless a backlog is
// bigger than maxWrite.
func (c *Conn) flush() {
	c.mu.Lock()
	c.fly, c.pend = c.pend, c.fly[:0]
	c.flying = len(c.fly)
	c.mu.Unlock()
	step := max(maxWrite, c.o.FlushSize)
	for off := 0; off < len(c.fly); {
		c.armDeadline()
		n, err := c.nc.Write(c.fly[off:min(off+step, len(c.fly))])
		off += n
		if !c.wrote(n, err) {
			return
		}
	}
}

// armDeadline gives the next real write the caller's current deadline;
// under c.mu so a concurrent SetWriteDeadline cannot be overtaken.
func (c *Conn) armDeadline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flyDL = c.wdl
	c.nc.SetWriteDeadline(c.wdl) //nolint:errcheck // a closed conn fails the Write
}

// wrote accounts for a real write and wakes blocked Writes; false after a
// failure, which is kept for later Writes and drops what is pending.
func (c *Conn) wrote(n int, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flying -= n
	c.notify()
	if err == nil {
		return true
	}
	c.err, c.flying, c.pend = err, 0, c.pend[:0]
	return false
}

// Close sends what is pending (bounded by the write deadline and a second),
// closes the wrapped conn, and waits for the flusher to return. Blocked
// Writes return net.ErrClosed. Later calls return net.ErrClosed.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closeErr = c.close()
	})
	if !first {
		return c.opError("close", net.ErrClosed)
	}
	return c.closeErr
}

func (c *Conn) close() error {
	c.mu.Lock()
	c.closing = true
	c.notify()
	bound := closeTimeout
	if !c.wdl.IsZero() {
		bound = min(bound, time.Until(c.wdl))
	}
	c.mu.Unlock()
	c.signal()
	t := time.NewTimer(max(bound, 0))
	select {
	case <-c.exited:
	case <-t.C: // a stuck real write ends when the conn closes
	}
	t.Stop()
	err := c.nc.Close()
	<-c.exited
	return err
}

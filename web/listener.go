package web

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ConnLimits bound a listener's connections; 0 or less means no limit.
type ConnLimits struct {
	// Total caps open connections. Over it, Accept waits for one to close
	// when WaitForSlot is set (the connection waits in the kernel's
	// backlog), and otherwise refuses the new connection.
	Total       int
	WaitForSlot bool
	// PerAddress caps the open connections of one client IP address; over
	// it, a new connection is refused.
	PerAddress int
	// Refuse, when set, is given each refused connection before it is
	// closed (to write a short answer); it must not block.
	Refuse func(net.Conn)
	// OnAcceptError is told about accept errors the listener rides out
	// (out of file descriptors and the like), once per run of them.
	OnAcceptError func(error)
}

// LimitedListener applies ConnLimits. Unlike a bare listener under
// net/http or gortsplib, it also rides out temporary accept errors
// (EMFILE, ENFILE, ECONNABORTED...) with a backoff instead of returning
// them, since gortsplib stops serving for good at the first error.
type LimitedListener struct {
	net.Listener
	limits  ConnLimits
	slots   chan struct{} // with WaitForSlot
	done    chan struct{}
	once    sync.Once
	refused atomic.Uint64

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
}

// LimitListener wraps ln.
func LimitListener(ln net.Listener, l ConnLimits) *LimitedListener {
	ll := &LimitedListener{Listener: ln, limits: l, done: make(chan struct{}), byAddr: map[netip.Addr]int{}}
	if l.Total > 0 && l.WaitForSlot {
		ll.slots = make(chan struct{}, l.Total)
	}
	return ll
}

// Accept returns the next connection within the limits.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		if err := l.acquire(); err != nil {
			return nil, err
		}
		c, err := l.acceptRetrying()
		if err != nil {
			l.release()
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
		l.release()
		l.refused.Add(1)
		if l.limits.Refuse != nil {
			l.limits.Refuse(c)
		}
		c.Close()
	}
}

// acceptRetrying accepts, waiting out temporary errors.
func (l *LimitedListener) acceptRetrying() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || !temporaryAcceptError(err) {
			return c, err
		}
		if delay == 0 {
			delay = 5 * time.Millisecond
			if l.limits.OnAcceptError != nil {
				l.limits.OnAcceptError(err)
			}
		} else {
			delay = min(2*delay, time.Second)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// temporaryAcceptError: errors after which accepting again can work.
func temporaryAcceptError(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (l *LimitedListener) acquire() error {
	if l.slots == nil {
		return nil
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

func (l *LimitedListener) release() {
	if l.slots != nil {
		<-l.slots
	}
}

// admit counts c, or returns nil when c is over a limit.
func (l *LimitedListener) admit(c net.Conn) net.Conn {
	ip := remoteIP(c.RemoteAddr().String())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slots == nil && l.limits.Total > 0 && l.total >= l.limits.Total {
		return nil
	}
	if l.limits.PerAddress > 0 && l.byAddr[ip] >= l.limits.PerAddress {
		return nil
	}
	l.total++
	l.byAddr[ip]++
	return &limitedConn{Conn: c, l: l, ip: ip}
}

func (l *LimitedListener) forget(ip netip.Addr) {
	l.mu.Lock()
	l.total--
	if l.byAddr[ip]--; l.byAddr[ip] <= 0 {
		delete(l.byAddr, ip)
	}
	l.mu.Unlock()
	l.release()
}

// Open returns how many accepted connections are open.
func (l *LimitedListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Refused returns how many connections were refused over the limits.
func (l *LimitedListener) Refused() uint64 { return l.refused.Load() }

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *LimitedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	l    *LimitedListener
	ip   netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.forget(c.ip) })
	return err
}

// RefuseHTTP answers a refused HTTP connection with 429 (it may never have
// sent its request: the answer is best effort).
func RefuseHTTP(c net.Conn) {
	const body = `{"error":"too many connections from your address"}`
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write([]byte("HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n" +
		"Content-Type: application/json; charset=utf-8\r\nRetry-After: 1\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body))
}

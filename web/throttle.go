package web

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Throttle defaults.
const (
	DefaultThrottleWindow = time.Minute
	// maxThrottled bounds the addresses a Throttle remembers; beyond it,
	// expired entries are dropped, and then new addresses go uncounted
	// until some expire.
	maxThrottled = 100000
)

// Throttle counts failed logins per client address: after Max failures
// within Window, the address is refused until Window has passed since its
// first failure. Other addresses are never affected. A nil *Throttle counts
// nothing and refuses nothing. It is safe for concurrent use and shared by
// HTTP and RTSP.
type Throttle struct {
	Max    int
	Window time.Duration // 0: DefaultThrottleWindow
	now    func() time.Time

	mu    sync.Mutex
	addrs map[netip.Addr]*failures
}

type failures struct {
	n     int
	since time.Time
}

// NewThrottle returns a Throttle refusing after max failures a minute; max
// <= 0 returns nil (no throttling).
func NewThrottle(max int) *Throttle {
	if max <= 0 {
		return nil
	}
	return &Throttle{Max: max}
}

func (t *Throttle) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

func (t *Throttle) window() time.Duration {
	if t.Window > 0 {
		return t.Window
	}
	return DefaultThrottleWindow
}

// Blocked reports whether ip is refused now, and for how much longer.
func (t *Throttle) Blocked(ip netip.Addr) (time.Duration, bool) {
	if t == nil {
		return 0, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.addrs[ip]
	if f == nil || f.n < t.Max {
		return 0, false
	}
	left := f.since.Add(t.window()).Sub(t.clock())
	if left <= 0 {
		delete(t.addrs, ip)
		return 0, false
	}
	return left, true
}

// Fail counts one failed login from ip.
func (t *Throttle) Fail(ip netip.Addr) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	f := t.addrs[ip]
	if f != nil && now.Sub(f.since) >= t.window() {
		f = nil // the window passed: start again
	}
	if f == nil {
		if t.addrs == nil {
			t.addrs = make(map[netip.Addr]*failures)
		}
		if len(t.addrs) >= maxThrottled && !t.pruneLocked(now) {
			return
		}
		f = &failures{since: now}
		t.addrs[ip] = f
	}
	f.n++
}

// pruneLocked drops expired entries; it reports whether there is room.
func (t *Throttle) pruneLocked(now time.Time) bool {
	for ip, f := range t.addrs {
		if now.Sub(f.since) >= t.window() {
			delete(t.addrs, ip)
		}
	}
	return len(t.addrs) < maxThrottled
}

// retryAfterSeconds rounds up, so that a client retrying then is let in.
func retryAfterSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// remoteIP is the address part of a "host:port" remote address (IPv4 in
// IPv6 unmapped), or the zero Addr.
func remoteIP(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, _ := netip.ParseAddr(host)
	return ip.Unmap().WithZone("")
}

package pipeline

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
)

const (
	defaultProbeEvery = time.Second
	// probeTimeout bounds one connection attempt; a host that drops
	// packets instead of refusing counts as down.
	probeTimeout = 800 * time.Millisecond
)

// retryWaiter waits out a backoff; false when ctx ended first.
type retryWaiter interface {
	wait(ctx context.Context, d time.Duration) bool
}

// waiter waits out backoffs. During a wait longer than every, it probes
// the source's own host every `every` with a TCP connect to the URL's
// host and port, and ends the wait at once when a probe answers after
// one that did not: a camera that comes back is retried within about a
// second, while a dead one keeps its backoff, and so does a host that
// answers all along (its stream is what fails). Probes run in the
// pipeline's goroutine and end with its context. Under an egress policy
// a probe connects only where the input itself may: to an address of the
// host that the policy allows.
type waiter struct {
	addr    string // host:port to probe; "" waits without probing
	every   time.Duration
	timeout time.Duration
	policy  hostPolicy // nil: no egress check
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	down    bool // the last probe got no answer
}

// hostPolicy is the egress check a source's connections go through.
type hostPolicy interface {
	CheckHost(host string, addrs []netip.Addr) error
}

func newWaiter(u *config.SourceURL, every time.Duration) *waiter {
	if every == 0 {
		every = defaultProbeEvery
	}
	w := &waiter{addr: probeAddr(u), every: every, timeout: min(probeTimeout, every),
		dial: (&net.Dialer{}).DialContext}
	if u != nil {
		if p := u.HostPolicy(); p != nil {
			w.policy = p
		}
	}
	if every < 0 {
		w.addr = ""
	}
	return w
}

func (w *waiter) wait(ctx context.Context, d time.Duration) bool {
	if w.addr == "" || d <= w.every {
		return sleepCtx(ctx, d)
	}
	end := time.NewTimer(d)
	defer end.Stop()
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	if w.cameBack(ctx) {
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-end.C:
			return true
		case <-tick.C:
			if w.cameBack(ctx) {
				return true
			}
		}
	}
}

// cameBack probes the host and tells whether it answered after a probe
// that got no answer.
func (w *waiter) cameBack(ctx context.Context) bool {
	wasDown := w.down
	w.down = !w.probe(ctx)
	return wasDown && !w.down && ctx.Err() == nil
}

func (w *waiter) probe(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	addr, err := w.target(ctx)
	if err != nil {
		return false
	}
	c, err := w.dial(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

var errNoAddress = errors.New("host has no address")

// target is where a probe connects: the source's host and port, or under
// an egress policy the host's first address, once the policy allowed the
// addresses the host resolves to (so a name cannot resolve elsewhere
// between the check and the connect).
func (w *waiter) target(ctx context.Context) (string, error) {
	if w.policy == nil {
		return w.addr, nil
	}
	host, port, err := net.SplitHostPort(w.addr)
	if err != nil {
		return "", err
	}
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", errNoAddress
	}
	if err := w.policy.CheckHost(host, addrs); err != nil {
		return "", err
	}
	return net.JoinHostPort(addrs[0].String(), port), nil
}

// probePorts are the default ports of the schemes that run over TCP; srt
// and udp sources are not probed.
var probePorts = map[string]string{
	"rtsp": "554", "rtsps": "322", "rtmp": "1935", "rtmps": "443", "http": "80", "https": "443",
}

// probeAddr is the only address a probe connects to: the source URL's own
// host, on the URL's port or its scheme's default; "" when the source is
// not probed.
func probeAddr(u *config.SourceURL) string {
	if u == nil || u.Kind != config.KindNetwork {
		return ""
	}
	port, ok := probePorts[u.Scheme]
	if !ok {
		return ""
	}
	pu, err := url.Parse(u.Input)
	if err != nil || pu.Hostname() == "" {
		return ""
	}
	if p := pu.Port(); p != "" {
		port = p
	}
	return net.JoinHostPort(pu.Hostname(), port)
}

package rtspin

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/visiongate/visiongate/transcode"
)

// dialer is where gortsplib's connections come from: with an egress
// policy, every host (a redirect's too) is resolved and checked first and
// only its checked addresses are dialed, and UDP is sent only to checked
// addresses (a camera names the UDP source it likes in SETUP's answer).
type dialer struct {
	egress func(ctx context.Context, host string) ([]netip.Addr, error)
	tls    *tls.Config // without ServerName, which each dial sets
	mu     sync.Mutex
	passed map[netip.Addr]bool // addresses the policy allowed
}

// egressCheckTimeout bounds the check of a UDP destination, an address:
// nothing to resolve.
const egressCheckTimeout = time.Second

func newDialer(o Options) (*dialer, error) {
	d := &dialer{egress: o.Egress, passed: map[netip.Addr]bool{}}
	if o.TLS.SkipVerify {
		d.tls = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10} //nolint:gosec // tls_verify: false
		return d, nil
	}
	var err error
	d.tls, err = transcode.TLSConfig("", o.TLS.CAFile)
	return d, err
}

// dial connects to addr (host:port), to a checked address of the host
// under an egress policy.
func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	if d.egress == nil {
		return nd.DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := d.check(ctx, host)
	if err != nil {
		return nil, err
	}
	errs := make([]error, 0, len(addrs))
	for _, a := range addrs {
		conn, err := nd.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("rtsp: " + host + " has no address")
	}
	return nil, errors.Join(errs...)
}

// check asks the policy about host and remembers the addresses it passed.
func (d *dialer) check(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := d.egress(ctx, host)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range addrs {
		d.passed[a.Unmap()] = true
	}
	return addrs, nil
}

// dialTLS connects and verifies the certificate for addr's host, with
// the same errors as libav's inputs get (transcode.ClassifyTLS).
func (d *dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := d.tls.Clone()
	cfg.ServerName, _, _ = net.SplitHostPort(addr)
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, transcode.ClassifyTLS(addr, err)
	}
	return tc, nil
}

// listenPacket opens gortsplib's UDP sockets, guarded under a policy.
func (d *dialer) listenPacket(network, address string) (net.PacketConn, error) {
	pc, err := net.ListenPacket(network, address)
	if err != nil || d.egress == nil {
		return pc, err
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, errors.New("rtsp: not a UDP socket")
	}
	return &guardedUDP{UDPConn: uc, d: d}, nil
}

// allowUDP checks a UDP destination: known, or passed by the policy now.
func (d *dialer) allowUDP(addr net.Addr) error {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return errors.New("rtsp: not a UDP address")
	}
	ip, _ := netip.AddrFromSlice(ua.IP)
	ip = ip.Unmap()
	d.mu.Lock()
	known := d.passed[ip]
	d.mu.Unlock()
	if known {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), egressCheckTimeout)
	defer cancel()
	_, err := d.check(ctx, ip.String())
	return err
}

// guardedUDP is a UDP socket that sends only where the policy allows;
// embedding keeps the methods gortsplib asks of its sockets.
type guardedUDP struct {
	*net.UDPConn
	d *dialer
}

func (g *guardedUDP) WriteTo(b []byte, addr net.Addr) (int, error) {
	if err := g.d.allowUDP(addr); err != nil {
		return 0, err
	}
	return g.UDPConn.WriteTo(b, addr)
}

package transcode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// HostPolicy decides, at connect time, whether a network input may reach
// host once it resolved to addrs (egress control).
type HostPolicy interface {
	CheckHost(host string, addrs []netip.Addr) error
}

// Typed errors of the checks made before libav connects.
var (
	// ErrEgressDenied: the host, or an address it resolves to, is refused
	// by InputOptions.Egress. Nothing was sent to it.
	ErrEgressDenied = errors.New("destination refused")
	// ErrTLSVerify: the server's certificate does not verify against the
	// system's CAs (or ca_file) for the URL's host.
	ErrTLSVerify = errors.New("certificate verify failed")
	// ErrTLS: no TLS session could be set up (handshake, ca_file).
	ErrTLS = errors.New("TLS failed")
)

// NetError is a refusal or failure of those checks; it matches its kind
// (ErrEgressDenied, ErrTLSVerify, ErrTLS) and its cause with errors.Is.
type NetError struct {
	Kind error
	Err  error
}

func (e *NetError) Error() string   { return e.Err.Error() }
func (e *NetError) Unwrap() []error { return []error{e.Kind, e.Err} }

// tlsDefaultPorts are the schemes that run over TLS, with their ports.
var tlsDefaultPorts = map[string]string{"https": "443", "rtsps": "322", "rtmps": "443"}

// netTarget is the host part of a network input's URL.
type netTarget struct {
	scheme, host, port string
}

func parseTarget(raw string) (netTarget, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return netTarget{}, false
	}
	return netTarget{scheme: strings.ToLower(u.Scheme), host: u.Hostname(), port: u.Port()}, true
}

// prepareNetwork runs the checks Go can make before libav opens a network
// input, and returns the options libav gets: the egress check after
// resolving the host, udp's bind address, and certificate verification for
// TLS schemes (on unless tls_verify is "0"; libav 5.1 cannot verify rtsps
// itself, so a handshake of our own verifies every TLS scheme first).
func prepareNetwork(ctx context.Context, o InputOptions) (map[string]string, error) {
	opts := maps.Clone(o.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	t, ok := parseTarget(o.URL)
	if !ok || o.Format != "" {
		return opts, nil
	}
	addrs, err := CheckEgress(ctx, o.Egress, t.host)
	if err != nil {
		return nil, err
	}
	if t.scheme == "udp" {
		bindUDP(opts, t.host)
	}
	if _, isTLS := tlsDefaultPorts[t.scheme]; isTLS {
		if opts["tls_verify"] == "" {
			opts["tls_verify"] = "1"
		}
		if opts["tls_verify"] != "0" {
			if err := verifyTLS(ctx, t, addrs, opts["ca_file"]); err != nil {
				return nil, err
			}
		}
	}
	return opts, nil
}

// CheckEgress resolves host and asks the policy; no policy, no lookup.
// A connection may use only the addresses it returns (the RTSP client
// checks its hosts with it too).
func CheckEgress(ctx context.Context, p HostPolicy, host string) ([]netip.Addr, error) {
	if p == nil {
		return nil, nil
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, &NetError{Kind: ErrEgressDenied, Err: fmt.Errorf("resolving %s: %w", host, err)}
	}
	if err := p.CheckHost(host, addrs); err != nil {
		return nil, &NetError{Kind: ErrEgressDenied, Err: err}
	}
	return addrs, nil
}

// bindUDP makes a unicast udp input listen on the URL's address only:
// libav binds 0.0.0.0 unless told (a multicast group it binds itself).
func bindUDP(opts map[string]string, host string) {
	if host == "" || opts["localaddr"] != "" {
		return
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsMulticast() {
		return
	}
	opts["localaddr"] = host
}

// verifyTLS makes a TLS handshake with the server, verifying its
// certificate for the URL's host against the system's CAs or caFile.
func verifyTLS(ctx context.Context, t netTarget, addrs []netip.Addr, caFile string) error {
	cfg, err := TLSConfig(t.host, caFile)
	if err != nil {
		return err
	}
	port := t.port
	if port == "" {
		port = tlsDefaultPorts[t.scheme]
	}
	host := t.host
	if len(addrs) > 0 { // the address the egress check passed
		host = addrs[0].String()
	}
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return ClassifyTLS(net.JoinHostPort(t.host, port), err)
	}
	return conn.Close()
}

// TLSConfig verifies a server's certificate for host against the system's
// CAs, or those of caFile when set.
func TLSConfig(host, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS10}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, &NetError{Kind: ErrTLS, Err: fmt.Errorf("ca_file: %w", err)}
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, &NetError{Kind: ErrTLS, Err: errors.New("ca_file: no PEM certificate in it")}
	}
	return cfg, nil
}

// ClassifyTLS turns a failed TLS dial to target (host:port) into a
// NetError: ErrTLSVerify for a certificate that does not verify, ErrTLS
// for another handshake failure; dial and context errors stay as they are.
func ClassifyTLS(target string, err error) error {
	var certErr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &name), errors.As(err, &invalid):
		return &NetError{Kind: ErrTLSVerify, Err: fmt.Errorf(
			"TLS %s: certificate verify failed: %w (tls_verify: false or ca_file accepts it)", target, err)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return err // not connected: the same failure libav would report
	}
	return &NetError{Kind: ErrTLS, Err: fmt.Errorf("TLS %s: %w", target, err)}
}

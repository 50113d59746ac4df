package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// Egress limits where sources added through the API (and kept in the
// state file) may connect. Both lists empty (the default): anywhere.
// Sources from the config file are the operator's and are not checked.
type Egress struct {
	// AllowedHosts, when not empty, is the only destinations: host names
	// ("cam1.lan"), wildcards ("*.cams.example.com", any depth), IP
	// addresses or CIDR networks. A host name matches a name entry, or
	// else every address it resolves to must be inside an address entry.
	AllowedHosts []string `yaml:"allowed_hosts,omitempty" json:"allowed_hosts,omitempty"`
	// DeniedNetworks are refused even when AllowedHosts lists the name:
	// a source whose host is, or resolves to, an address inside one fails.
	DeniedNetworks []string `yaml:"denied_networks,omitempty" json:"denied_networks,omitempty"`
}

// ErrEgressDenied is wrapped by EgressPolicy's refusals.
var ErrEgressDenied = errors.New("destination not allowed by egress")

// EgressPolicy is a compiled Egress. A nil policy allows everything.
type EgressPolicy struct {
	names    map[string]bool
	suffixes []string // ".example.com" for "*.example.com"
	allow    []netip.Prefix
	deny     []netip.Prefix
}

var hostNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$`)

// Policy compiles e; nil when e is empty.
func (e *Egress) Policy() (*EgressPolicy, error) {
	if len(e.AllowedHosts) == 0 && len(e.DeniedNetworks) == 0 {
		return nil, nil
	}
	p := &EgressPolicy{names: map[string]bool{}}
	for i, h := range e.AllowedHosts {
		if err := p.addAllowed(strings.ToLower(strings.TrimSuffix(h, "."))); err != nil {
			return nil, fieldErr(fmt.Sprintf("egress.allowed_hosts[%d]", i), "%v", err)
		}
	}
	for i, n := range e.DeniedNetworks {
		pfx, err := parseNetwork(n)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("egress.denied_networks[%d]", i), "%v", err)
		}
		p.deny = append(p.deny, pfx)
	}
	return p, nil
}

func (p *EgressPolicy) addAllowed(h string) error {
	if pfx, err := parseNetwork(h); err == nil {
		p.allow = append(p.allow, pfx)
		return nil
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok && hostNameRe.MatchString(rest) {
		p.suffixes = append(p.suffixes, "."+rest)
		return nil
	}
	if !hostNameRe.MatchString(h) || numericHost(h) {
		return fmt.Errorf("%q is not a host name, *.domain, IP address or CIDR network", h)
	}
	p.names[h] = true
	return nil
}

// parseNetwork reads "10.0.0.0/8" or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR network", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// numericHost reports whether h is a number form of an IPv4 address that
// the C resolver takes and netip does not ("127.1", "0x7f000001").
func numericHost(h string) bool {
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if !numericPartRe.MatchString(p) {
			return false
		}
	}
	return true
}

var numericPartRe = regexp.MustCompile(`^(0[xX][0-9a-fA-F]*|[0-9]+)$`)

// CheckHost is the connect-time check: host is the URL's host name or
// address, addrs what it resolved to (for an address, itself).
func (p *EgressPolicy) CheckHost(host string, addrs []netip.Addr) error {
	if p == nil {
		return nil
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if len(addrs) == 0 {
		return fmt.Errorf("%w: %s has no address", ErrEgressDenied, host)
	}
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		for _, n := range p.deny {
			if n.Contains(a) {
				return fmt.Errorf("%w: %s is in denied network %s", ErrEgressDenied, describe(host, a), n)
			}
		}
	}
	if p.allowAll() || p.nameAllowed(host) {
		return nil
	}
	for _, a := range addrs {
		if !p.addrAllowed(a.Unmap().WithZone("")) {
			return fmt.Errorf("%w: %s is not in allowed_hosts", ErrEgressDenied, describe(host, a))
		}
	}
	return nil
}

func describe(host string, a netip.Addr) string {
	if host == a.String() {
		return host
	}
	return host + " (" + a.String() + ")"
}

func (p *EgressPolicy) allowAll() bool {
	return len(p.names) == 0 && len(p.suffixes) == 0 && len(p.allow) == 0
}

func (p *EgressPolicy) nameAllowed(host string) bool {
	if p.names[host] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

func (p *EgressPolicy) addrAllowed(a netip.Addr) bool {
	for _, n := range p.allow {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// CheckURL is the validation-time check of a network source URL: address
// hosts are checked now, names against the name entries; a name that only
// address entries could allow waits for the connect-time check.
func (p *EgressPolicy) CheckURL(raw string) error {
	if p == nil {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrURLForm, err)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckHost(host, []netip.Addr{a})
	}
	switch {
	case numericHost(host):
		return fmt.Errorf("%w: write the address %q in dotted-decimal (or IPv6) form", ErrEgressDenied, host)
	case p.allowAll() || p.nameAllowed(host) || len(p.allow) > 0:
		return nil
	}
	return fmt.Errorf("%w: %s is not in allowed_hosts", ErrEgressDenied, host)
}

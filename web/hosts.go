package web

import (
	"net"
	"strings"
)

// LoopbackHosts are the host names a server listening on loopback only
// answers to by default.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// hostChecker refuses requests whose Host header is not one of its names:
// a page on another site whose name was rebound to 127.0.0.1 (DNS
// rebinding) still sends its own name, and gets 403.
type hostChecker map[string]bool

func newHostChecker(hosts []string) hostChecker {
	if len(hosts) == 0 || (len(hosts) == 1 && hosts[0] == "*") {
		return nil
	}
	m := hostChecker{}
	for _, h := range hosts {
		m[normalHost(h)] = true
	}
	return m
}

// normalHost lower-cases a host name and drops a port, brackets and a
// trailing dot.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// allowed reports whether a request naming host may go on. HTTP/1.0
// requests without a Host header cannot come from a rebinding browser.
func (hc hostChecker) allowed(host string) bool {
	return host == "" || hc[normalHost(host)]
}

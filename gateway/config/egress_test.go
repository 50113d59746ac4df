package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// Issue 13 item 14: the connect-time check, after DNS resolution.
func TestEgressCheckHost(t *testing.T) {
	e := Egress{
		AllowedHosts:   []string{"cam1.lan", "*.cams.example.com", "10.0.0.0/8", "192.168.1.20"},
		DeniedNetworks: []string{"127.0.0.0/8", "169.254.0.0/16", "::1/128", "fe80::/10", "10.9.0.0/16"},
	}
	p, err := e.Policy()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		host  string
		addrs []netip.Addr
		ok    bool
	}{
		{"cam1.lan", addrs("192.168.7.7"), true},
		{"CAM1.LAN.", addrs("192.168.7.7"), true},
		{"door.cams.example.com", addrs("203.0.113.5"), true},
		{"cams.example.com", addrs("203.0.113.5"), false},
		{"nvr.lan", addrs("10.1.2.3"), true},
		{"nvr.lan", addrs("10.1.2.3", "203.0.113.9"), false}, // every address must be allowed
		{"10.1.2.3", addrs("10.1.2.3"), true},
		{"192.168.1.20", addrs("192.168.1.20"), true},
		{"192.168.1.21", addrs("192.168.1.21"), false},
		{"cam1.lan", addrs("127.0.0.1"), false}, // a listed name resolving to a denied network
		{"rebind.cams.example.com", addrs("169.254.169.254"), false},
		{"10.9.0.1", addrs("10.9.0.1"), false}, // denied beats allowed
		{"mapped", addrs("::ffff:127.0.0.1"), false},
		{"fe80::1%eth0", addrs("fe80::1%eth0"), false},
		{"nothing.lan", nil, false},
	}
	for _, c := range cases {
		err := p.CheckHost(c.host, c.addrs)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrEgressDenied)) {
			t.Errorf("CheckHost(%s, %v) = %v, want ok=%v", c.host, c.addrs, err, c.ok)
		}
	}
	var none *EgressPolicy
	if none.CheckHost("anything", nil) != nil {
		t.Error("a nil policy refuses")
	}
}

// Validation of API sources: addresses now, names when no address entry
// could allow them later; config-file sources are the operator's.
func TestEgressAtValidation(t *testing.T) {
	c := &Config{Egress: Egress{AllowedHosts: []string{"cam1.lan"}, DeniedNetworks: []string{"127.0.0.0/8"}}}
	cases := map[string]bool{
		"rtsp://cam1.lan/s":         true,
		"rtsp://admin:pw@cam1.lan/": true,
		"rtsp://other.lan/s":        false,
		"rtsp://127.0.0.1:22/":      false,
		"http://169.254.169.254/":   false,
		"rtsp://127.1/s":            false, // number forms the C resolver reads
		"rtsp://2130706433/s":       false,
		"rtsp://0x7f000001/s":       false,
		"udp://127.0.0.1:5000":      false,
	}
	for u, ok := range cases {
		err := c.ValidateAPISource(&Source{Name: "s", URL: u}, nil)
		var ve *ValidationError
		if ok != (err == nil) || (err != nil && (!errors.As(err, &ve) || ve.Field != "url")) {
			t.Errorf("%s: err = %v, want ok=%v", u, err, ok)
		}
	}
	// Only denied networks: names wait for the connect-time check.
	d := &Config{Egress: Egress{DeniedNetworks: []string{"127.0.0.0/8"}}}
	if err := d.ValidateAPISource(&Source{Name: "s", URL: "rtsp://localhost/s"}, nil); err != nil {
		t.Errorf("name refused before resolving: %v", err)
	}
	// The config file is not checked.
	cfg := "egress: {denied_networks: [127.0.0.0/8]}\nsources:\n  - {name: local, url: 'rtsp://127.0.0.1:8554/x'}\n"
	if _, err := Parse([]byte(cfg)); err != nil {
		t.Errorf("config source refused: %v", err)
	}
}

func TestEgressConfigErrors(t *testing.T) {
	for y, field := range map[string]string{
		"egress: {allowed_hosts: ['bad host']}\n":     "egress.allowed_hosts[0]",
		"egress: {allowed_hosts: [ok.lan, '*.']}\n":   "egress.allowed_hosts[1]",
		"egress: {allowed_hosts: ['127.1']}\n":        "egress.allowed_hosts[0]",
		"egress: {denied_networks: [10.0.0.0/33]}\n":  "egress.denied_networks[0]",
		"egress: {denied_networks: [example.com]}\n":  "egress.denied_networks[0]",
		"egress: {denied_networks: ['fe80::1%eth0']}": "egress.denied_networks[0]",
	} {
		_, err := Parse([]byte(y))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != field {
			t.Errorf("%q: err = %v, want field %s", y, err, field)
		}
	}
}

// The policy reaches the input of API sources only, and http(s) inputs
// then follow no redirect.
func TestSourceInputEgress(t *testing.T) {
	c := &Config{Egress: Egress{DeniedNetworks: []string{"127.0.0.0/8"}}}
	u, err := c.SourceInput(Source{URL: "http://cam/s.mjpeg"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if u.HostPolicy() == nil || u.Options["max_redirects"] != "0" {
		t.Fatalf("API source: policy %v, options %v", u.HostPolicy(), u.Options)
	}
	if err := u.HostPolicy().CheckHost("localhost", addrs("127.0.0.1")); !errors.Is(err, ErrEgressDenied) ||
		!strings.Contains(err.Error(), "127.0.0.0/8") {
		t.Fatalf("CheckHost = %v", err)
	}
	u, _ = c.SourceInput(Source{URL: "http://cam/s.mjpeg"}, false)
	if u.HostPolicy() != nil || u.Options["max_redirects"] != "" {
		t.Fatalf("config source: policy %v, options %v", u.HostPolicy(), u.Options)
	}
	u, _ = (&Config{}).SourceInput(Source{URL: "http://cam/s.mjpeg"}, true)
	if u.HostPolicy() != nil {
		t.Fatal("no egress settings, yet a policy")
	}
}

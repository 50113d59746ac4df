package webrtc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// h264Profiles are the profile-level-ids (their profile and constraint
// bytes are what matches) the answer accepts with packetization-mode=1:
// what Chrome, Firefox and Safari offer. Packetization-mode=0 is never
// accepted: we send FU-A fragments.
var h264Profiles = []string{"42e01f", "42001f", "4d001f", "640c1f", "64001f"}

// h264Fmtp is the fmtp line of a registered H.264 profile.
func h264Fmtp(profile string) string {
	return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile
}

// newAPIs builds the two pion APIs the sessions share, both on the same
// ICE muxes: one that sends H.264 to players (WHEP), one that receives
// what browsers send (WHIP). Each has its own codecs, so an answer to a
// player never offers a codec we cannot send.
func (s *Server) newAPIs() (send, receive *webrtc.API, err error) {
	se, err := s.settings()
	if err != nil {
		return nil, nil, err
	}
	if send, err = newAPI(registerCodecs, se); err != nil {
		return nil, nil, err
	}
	receive, err = newAPI(registerIngestCodecs, se)
	return send, receive, err
}

// newAPI builds a pion API: codecs, the interceptors (NACK, RTCP reports,
// TWCC) and the ICE settings.
func newAPI(register func(*webrtc.MediaEngine) error, se webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := register(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), nil
}

func registerCodecs(m *webrtc.MediaEngine) error {
	fb := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}} // NACK and PLI come with the interceptors
	for i, p := range h264Profiles {
		c := webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(96 + i), RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp(p), RTCPFeedback: fb}}
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	for _, c := range []webrtc.RTPCodecParameters{
		{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus,
			ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}},
		{PayloadType: 8, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}},
	} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return err
		}
	}
	return nil
}

// settings puts ICE on the server's muxes: host candidates on the one UDP
// and the one TCP port, plus the additional hosts.
func (s *Server) settings() (webrtc.SettingEngine, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = pionLogs{log: s.log}
	// mDNS would open a multicast socket per session; browsers reach our
	// host candidates, and we learn theirs as peer-reflexive.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	var nets []webrtc.NetworkType
	for _, m := range s.muxes {
		switch m := m.(type) {
		case ice.UDPMux:
			se.SetICEUDPMux(m)
			nets = append(nets, webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6)
		case ice.TCPMux:
			se.SetICETCPMux(m)
			nets = append(nets, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
		}
	}
	se.SetNetworkTypes(nets)
	se.SetIncludeLoopbackCandidate(isLoopback(s.o.UDP) || isLoopback(s.o.TCP))
	rules := rewriteRules(resolveHosts(s.o.AdditionalHosts, s.log.Warn))
	if len(rules) > 0 {
		if err := se.SetICEAddressRewriteRules(rules...); err != nil {
			return se, &HostsError{Hosts: s.o.AdditionalHosts, Err: err}
		}
	}
	return se, nil
}

// isLoopback tells whether a listen address is on loopback only: its
// candidates are then the loopback ones, which pion leaves out by default.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || (err == nil && ip.IsLoopback())
}

// resolveHosts turns the additional hosts into IPs; a name that does not
// resolve is reported to warn and skipped, so a DNS hiccup at start does
// not keep the gateway down.
func resolveHosts(hosts []string, warn func(string, ...any)) []netip.Addr {
	var ips []netip.Addr
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			ips = append(ips, ip.Unmap())
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		cancel()
		if err != nil {
			warn("webrtc: additional host does not resolve", "host", h, "err", err)
			continue
		}
		for _, a := range addrs {
			ips = append(ips, a.Unmap())
		}
	}
	return ips
}

// rewriteRules adds the IPs as host candidates next to the local ones
// (not in their place: viewers on the LAN keep the direct path), one rule
// per address family.
func rewriteRules(ips []netip.Addr) []webrtc.ICEAddressRewriteRule {
	var v4, v6 []string
	for _, ip := range ips {
		if ip.Is4() {
			v4 = append(v4, ip.String())
		} else {
			v6 = append(v6, ip.String())
		}
	}
	var rules []webrtc.ICEAddressRewriteRule
	for _, ext := range [][]string{v4, v6} {
		if len(ext) > 0 {
			rules = append(rules, webrtc.ICEAddressRewriteRule{External: ext,
				AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteAppend})
		}
	}
	return rules
}

// certRenew is how old the shared DTLS certificate may get before a new
// session gets a fresh one (pion's last a month).
const certRenew = 24 * time.Hour

// certCache shares one DTLS certificate among sessions: generating one
// per offer costs a key generation each.
type certCache struct {
	mu   sync.Mutex
	cert webrtc.Certificate
	made time.Time
}

func (c *certCache) init() error {
	_, err := c.get()
	return err
}

func (c *certCache) get() (webrtc.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.made.IsZero() && time.Since(c.made) < certRenew {
		return c.cert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return webrtc.Certificate{}, err
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return webrtc.Certificate{}, err
	}
	c.cert, c.made = *cert, time.Now()
	return c.cert, nil
}

package config

import (
	"net"
	"strings"
)

// Off disables a listener.
const Off = "off"

// WebRTC configures WHEP playback and WHIP publishing.
type WebRTC struct {
	// UDP is the one UDP port all WebRTC media share (ICE UDP mux); TCP
	// is the ICE-over-TCP fallback. "off" disables either.
	UDP string `yaml:"udp" json:"udp"`
	TCP string `yaml:"tcp" json:"tcp"`
	// ICEServers are handed to browsers (WHEP/WHIP Link headers) and used
	// by the gateway's own ICE agent.
	ICEServers []ICEServer `yaml:"ice_servers" json:"-"`
	// AdditionalHosts are extra addresses (public IPs, NAT 1:1) offered
	// as host candidates.
	AdditionalHosts []string `yaml:"additional_hosts" json:"additional_hosts"`
}

// ICEServer is a STUN or TURN server.
type ICEServer struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

func (c *Config) fillPublishDefaults() {
	if c.RTMP == "" {
		c.RTMP = ":1935"
	}
	if c.SRT == "" {
		c.SRT = ":8890"
	}
	if c.WebRTC.UDP == "" {
		c.WebRTC.UDP = ":8189"
	}
	if c.WebRTC.TCP == "" {
		c.WebRTC.TCP = ":8189"
	}
}

// validatePublish checks the listener addresses and WebRTC settings.
func (c *Config) validatePublish() error {
	for _, l := range []struct{ field, addr string }{
		{"rtmp", c.RTMP}, {"srt", c.SRT}, {"webrtc.udp", c.WebRTC.UDP}, {"webrtc.tcp", c.WebRTC.TCP},
	} {
		if l.addr == Off {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return fieldErr(l.field, "must be host:port or %q: %v", Off, err)
		}
	}
	for i, s := range c.WebRTC.ICEServers {
		if len(s.URLs) == 0 {
			return fieldErr("webrtc.ice_servers", "server %d has no urls", i)
		}
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				return fieldErr("webrtc.ice_servers", "%q is not a stun:, turn: or turns: URL", u)
			}
		}
	}
	for _, h := range c.WebRTC.AdditionalHosts {
		if h == "" || strings.ContainsAny(h, " /:") && net.ParseIP(h) == nil {
			return fieldErr("webrtc.additional_hosts", "%q is not a host name or IP address", h)
		}
	}
	return nil
}

// Package webrtc plays hubs to browsers over WebRTC, signalled with WHEP:
// a player POSTs its SDP offer to /webrtc/<name>/whep and gets the answer
// (201, application/sdp) with the session's URL in Location; PATCH on that
// URL trickles ICE candidates, DELETE ends the session.
//
// Every viewer is one PeerConnection with its own hub reader: the hub's
// H.264 goes out as it is (RTP packetized, never re-encoded), starting at
// an IDR, with the sound when the source's codec is one browsers play
// (Opus, or G.711 at 8 kHz when offered). A slow viewer loses units in its
// own reader and resumes at the next IDR; nobody else notices.
//
// Publishers push in with WHIP (whip.go): a browser or OBS POSTs its
// offer to /webrtc/<name>/whip and its VP8, VP9, H.264 or AV1 (and Opus)
// go to the publish broker (Options.Publish), frame by frame.
//
// All media share one UDP port (ICE UDP mux) and, as a fallback, one TCP
// port (ICE-TCP passive). The answer is sent once gathering is complete,
// so a client without trickle ICE connects too.
package webrtc

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/gateway/publish"
)

// Off, as Options.UDP or Options.TCP, disables that transport.
const Off = "off"

// Defaults for the zero-valued fields of Options.
const (
	DefaultConnectTimeout    = 10 * time.Second
	DefaultDisconnectTimeout = 10 * time.Second
	DefaultReadyTimeout      = 5 * time.Second
	DefaultAllowOrigin       = "*"
	// DefaultMediaTimeout drops a WHIP publisher that has sent no video
	// this long.
	DefaultMediaTimeout = 10 * time.Second
	// ringSize is each viewer's hub reader, in units (a few seconds).
	ringSize = 128
)

// ICEServer is a STUN or TURN server handed to players (Link headers).
type ICEServer struct {
	URLs                 []string
	Username, Credential string
}

// Options configure a Server; New fixes them.
type Options struct {
	// UDP is the one UDP port all media share, e.g. ":8189" or
	// "127.0.0.1:0"; Off disables it.
	UDP string
	// TCP is the ICE-TCP fallback port; Off disables it.
	TCP string
	// ICEServers are handed to players in Link headers (rel="ice-server");
	// the server's own ICE agent gathers host candidates only.
	ICEServers []ICEServer
	// AdditionalHosts are public or NAT 1:1 addresses (IPs or host names,
	// resolved at New) offered as extra host candidates.
	AdditionalHosts []string
	// ReadersPerSource caps the viewers of each source; 0 is unlimited.
	ReadersPerSource int
	// Log may be nil.
	Log *slog.Logger
	// BaseURL gives the "http://host:port" of URLs; nil: relative URLs.
	BaseURL func() string
	// ConnectTimeout closes a session whose ICE and DTLS have not
	// connected this long after its offer (default 10s).
	ConnectTimeout time.Duration
	// DisconnectTimeout closes a session whose connection stayed
	// disconnected this long (default 10s); a failed one closes at once.
	DisconnectTimeout time.Duration
	// ReadyTimeout bounds how long an offer waits for a source that has
	// not produced its first keyframe yet before 503 (default 5s).
	ReadyTimeout time.Duration
	// AllowOrigin is sent as Access-Control-Allow-Origin (default "*");
	// "none" sends no CORS headers.
	AllowOrigin string
	// Publish takes WHIP publishers (/webrtc/<name>/whip), which the
	// handler authorizes itself with the broker's credentials; nil: WHIP
	// answers 501.
	Publish *publish.Broker
}

// Server plays attached sources over WebRTC. Its methods are safe for
// concurrent use.
type Server struct {
	o     Options
	log   *slog.Logger
	api   *webrtc.API // sends to players (WHEP)
	certs certCache
	udp   net.PacketConn // nil when off
	tcp   net.Listener   // nil when off
	muxes []interface{ Close() error }
	paths output.Paths[*path]

	ingestAPI    *webrtc.API // receives from publishers (WHIP)
	ingests      ingests
	mediaTimeout time.Duration // drops a publisher that sends no video this long

	closeOnce sync.Once
}

// New opens the UDP and TCP listeners and returns a server ready to
// attach sources; Close releases them.
func New(o Options) (*Server, error) {
	o = withDefaults(o)
	if o.UDP == Off && o.TCP == Off {
		return nil, ErrNoTransport
	}
	s := &Server{o: o, log: o.Log, mediaTimeout: DefaultMediaTimeout}
	if err := s.listen(); err != nil {
		s.closeListeners()
		return nil, err
	}
	api, ingestAPI, err := s.newAPIs()
	if err != nil {
		s.closeListeners()
		return nil, err
	}
	s.api, s.ingestAPI = api, ingestAPI
	if err := s.certs.init(); err != nil {
		s.closeListeners()
		return nil, err
	}
	s.paths.Start(func(p *path) func() { return p.run })
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.ConnectTimeout = orDefault(o.ConnectTimeout, DefaultConnectTimeout)
	o.DisconnectTimeout = orDefault(o.DisconnectTimeout, DefaultDisconnectTimeout)
	o.ReadyTimeout = orDefault(o.ReadyTimeout, DefaultReadyTimeout)
	switch o.AllowOrigin {
	case "":
		o.AllowOrigin = DefaultAllowOrigin
	case "none":
		o.AllowOrigin = ""
	}
	return o
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// listen opens the UDP socket and the TCP listener and muxes ICE on them.
func (s *Server) listen() error {
	logs := pionLogs{log: s.log}
	if s.o.UDP != Off {
		conn, err := net.ListenPacket("udp", s.o.UDP)
		if err != nil {
			return &ListenError{Transport: "udp", Addr: s.o.UDP, Err: err}
		}
		s.udp = conn
		mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: logs.NewLogger("udpmux")})
		s.muxes = append(s.muxes, mux)
	}
	if s.o.TCP != Off {
		ln, err := net.Listen("tcp", s.o.TCP)
		if err != nil {
			return &ListenError{Transport: "tcp", Addr: s.o.TCP, Err: err}
		}
		s.tcp = ln
		// A write buffer makes a stalled TCP viewer drop packets instead
		// of blocking its sender.
		mux := ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, Logger: logs.NewLogger("tcpmux"),
			ReadBufferSize: 64, WriteBufferSize: 4 << 20})
		s.muxes = append(s.muxes, mux)
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, m := range s.muxes {
		_ = m.Close()
	}
	s.muxes = nil
	if s.udp != nil {
		_ = s.udp.Close()
	}
	if s.tcp != nil {
		_ = s.tcp.Close()
	}
}

// UDPAddr is the UDP media address (port 0 resolved), "" when off.
func (s *Server) UDPAddr() string {
	if s.udp == nil {
		return ""
	}
	return s.udp.LocalAddr().String()
}

// TCPAddr is the ICE-TCP address (port 0 resolved), "" when off.
func (s *Server) TCPAddr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}

// Protocol names the output: "webrtc".
func (s *Server) Protocol() string { return "webrtc" }

// URLs is name's WHEP endpoint: BASE/webrtc/<name>/whep.
func (s *Server) URLs(name string) map[string]string {
	base := ""
	if s.o.BaseURL != nil {
		base = s.o.BaseURL()
	}
	return map[string]string{"webrtc": base + Prefix + name + "/whep"}
}

// Attach serves src's units at /webrtc/<name>/whep, replacing (and
// closing the viewers of) another hub attached under that name; the same
// hub again keeps its viewers. Invalid names, nil hubs and Attach after
// Close are logged and ignored.
func (s *Server) Attach(src output.Source) {
	name, h := src.Name, src.Units
	if !output.ValidName(name) || h == nil {
		s.log.Warn("webrtc: not attaching invalid path", "path", name)
		return
	}
	s.paths.Attach(name, h, func(parent context.Context) *path { return newPath(parent, name, h) })
}

// Detach closes name's viewers and returns once they are gone; new offers
// get 404.
func (s *Server) Detach(name string) { s.paths.Detach(name) }

// Readers counts name's sessions, those still connecting included.
func (s *Server) Readers(name string) int {
	if p := s.paths.Lookup(name); p != nil {
		return p.count()
	}
	return 0
}

// Close closes every session and the listeners, and returns once all
// their goroutines are gone. Calling it again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.paths.Close()   // every viewer, waiting for each
		s.ingests.close() // every publisher, waiting for each
		s.closeListeners()
	})
}

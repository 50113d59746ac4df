// Package rtsp publishes hubs over RTSP: rtsp://HOST:PORT/<name>.
//
// Each attached path runs one goroutine that reads its hub and packetizes
// every access unit once (H.264 or H.265, RTP payload type 96). Readers
// over interleaved TCP get each unit in one write from that goroutine
// (direct.go); the others (UDP, multicast, tunnels) get the packets from
// a gortsplib ServerStream, with one bounded write queue per reader. A
// slow reader loses units (direct readers) or packets, the others do not
// notice.
//
// Publishing (ANNOUNCE and RECORD, over TCP or UDP) is offered when
// Server.Publish is set, and answered 501 Not Implemented otherwise: the
// path is the publish source's name, the publisher's credentials are the
// broker's, and its packets go to the broker's publisher (see record.go).
//
// UDP: gortsplib serves every UDP reader from one RTP/RTCP listener pair on
// an even port and the next one. UDPRTPAddress/UDPRTCPAddress name that
// pair; both empty disables UDP (readers then use TCP). Port 0 in
// UDPRTPAddress (with UDPRTCPAddress empty or also port 0) makes Start bind a
// free consecutive pair on that host, which UDPAddrs reports.
package rtsp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/internal/batchconn"
	// Named push: the tests have a func publish.
	push "github.com/visiongate/visiongate/gateway/publish"
)

// Defaults for the zero-valued fields of Server.
const (
	DefaultUDPRTPAddress   = ":8000"
	DefaultUDPRTCPAddress  = ":8001"
	DefaultDescribeTimeout = 5 * time.Second
	DefaultWriteQueueSize  = 512
	DefaultRingSize        = 256
)

// Errors returned by Start.
var (
	ErrAlreadyStarted = errors.New("rtsp: server already started")
	ErrServerClosed   = errors.New("rtsp: server closed")
)

// ValidName reports whether name can be served as a path.
func ValidName(name string) bool { return output.ValidName(name) }

// Server serves attached hubs to RTSP readers. Set the exported fields before
// Start and do not change them afterwards; the methods are safe for
// concurrent use.
type Server struct {
	// Addr is the RTSP (TCP) listen address, e.g. ":8554" or "127.0.0.1:0".
	Addr string
	// UDPRTPAddress and UDPRTCPAddress are the UDP transport listeners (see
	// the package comment); both empty disables UDP. DefaultUDPRTPAddress and
	// DefaultUDPRTCPAddress are the conventional values.
	UDPRTPAddress  string
	UDPRTCPAddress string
	// DescribeTimeout bounds how long a DESCRIBE of an attached path whose
	// stream is not ready yet waits before answering 503.
	DescribeTimeout time.Duration
	// WriteQueueSize is the per-reader packet queue (a power of two).
	WriteQueueSize int
	// RingSize is the per-path hub reader ring, in access units.
	RingSize int
	// Log may be nil.
	Log *slog.Logger
	// Accounts, when there are any, are the credentials a reader must
	// give (Basic or Digest, as the client offers); empty: open.
	Accounts []Account
	// Throttle, when set, counts failed logins and refuses (503 with
	// Retry-After, then closes) the addresses it blocks.
	Throttle Throttle
	// MaxReaders per path; 0 is unlimited. Over the limit, PLAY gets 503.
	MaxReaders int
	// Listen, when set, opens the RTSP (TCP) listener in net.Listen's
	// place: a wrapper can cap connections there.
	Listen func(network, address string) (net.Listener, error)
	// OnFail, when set, is called once if the server stops serving on its
	// own (its listener died); Err reports the same error.
	OnFail func(error)
	// BaseURL, when set, gives the "rtsp://host:port" URLs show.
	BaseURL func() string
	// Publish, when set, takes publishers (ANNOUNCE, RECORD) for its
	// sources; nil refuses them.
	Publish *push.Broker

	paths output.Paths[*path]

	mu      sync.Mutex
	failure error
	srv     *gortsplib.Server
	cfg     settings
	started bool
	closed  bool
	wg      sync.WaitGroup // watch
}

// Start listens on Addr (and the UDP pair) and starts serving.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.started {
		return ErrAlreadyStarted
	}
	s.cfg = s.config()
	srv := &gortsplib.Server{
		Handler:        s.newHandler(),
		RTSPAddress:    s.Addr,
		WriteQueueSize: s.cfg.writeQueueSize,
		WriteTimeout:   writeTimeout,
		Listen:         s.listen,
	}
	udp, err := configureUDP(srv, s.UDPRTPAddress, s.UDPRTCPAddress)
	if err != nil {
		return err
	}
	err = srv.Start()
	udp.closeUnused()
	if err != nil {
		return err
	}
	s.srv = srv
	s.started = true
	s.paths.Start(s.startPath)
	s.wg.Add(1)
	go s.watch(srv)
	return nil
}

// listen opens the RTSP listener (Listen's, or net.Listen's) with write
// coalescing: a reader gets a few writes per unit, not one per packet,
// and its connection is the frameConn direct readers need.
func (s *Server) listen(network, address string) (net.Listener, error) {
	open := s.Listen
	if open == nil {
		open = net.Listen
	}
	ln, err := open(network, address)
	if err != nil {
		return nil, err
	}
	return batchconn.Wrap(ln, batchconn.Options{MaxPending: maxPending}), nil
}

// maxPending bounds the bytes buffered for a slow reader (for gortsplib's
// readers, beyond its queue): a few seconds of a 720p camera.
const maxPending = 1 << 20

// ListenerError says the RTSP server stopped serving on its own.
type ListenerError struct{ Err error }

func (e *ListenerError) Error() string { return "rtsp: server stopped serving: " + e.Err.Error() }

// Unwrap returns the error the server stopped with.
func (e *ListenerError) Unwrap() error { return e.Err }

// watch waits for gortsplib's server to end. It ends at Close, or on its
// own when its listener fails: that is logged, kept for Err and given to
// OnFail, so that the process does not go on deaf while looking healthy.
func (s *Server) watch(srv *gortsplib.Server) {
	defer s.wg.Done()
	err := srv.Wait()
	if err == nil {
		err = errors.New("ended without an error")
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.failure = &ListenerError{Err: err}
		err = s.failure
	}
	s.mu.Unlock()
	if closed {
		return
	}
	s.cfg.log.Error("rtsp: no longer accepting connections", "err", err)
	if s.OnFail != nil {
		s.OnFail(err)
	}
}

// Err returns a *ListenerError once the server has stopped serving on its
// own; nil while it serves, and after a Close that came first.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

func (s *Server) config() settings {
	c := settings{
		describeTimeout: s.DescribeTimeout,
		writeQueueSize:  s.WriteQueueSize,
		ringSize:        s.RingSize,
		log:             s.logger(),
	}
	if c.describeTimeout <= 0 {
		c.describeTimeout = DefaultDescribeTimeout
	}
	if c.writeQueueSize <= 0 {
		c.writeQueueSize = DefaultWriteQueueSize
	}
	if c.ringSize <= 0 {
		c.ringSize = DefaultRingSize
	}
	return c
}

// ListenAddr returns the actual RTSP host:port after Start, or "".
func (s *Server) ListenAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return ""
	}
	return s.srv.NetListener().Addr().String()
}

// UDPAddrs returns the actual UDP RTP and RTCP listen addresses after Start,
// or empty strings when UDP is disabled.
func (s *Server) UDPAddrs() (rtp, rtcp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return "", ""
	}
	return s.srv.UDPRTPAddress, s.srv.UDPRTCPAddress
}

// Protocol names the output: "rtsp".
func (s *Server) Protocol() string { return "rtsp" }

// URLs is where name plays: rtsp://HOST:PORT/<name>.
func (s *Server) URLs(name string) map[string]string {
	base := "rtsp://" + s.ListenAddr()
	if s.BaseURL != nil {
		base = s.BaseURL()
	}
	return map[string]string{"rtsp": base + "/" + name}
}

// Attach serves src's units at rtsp://HOST:PORT/<name>, replacing (and
// disconnecting the readers of) another hub attached under that name;
// attaching the same hub again does nothing. Invalid names and nil hubs
// are logged and ignored, and so is Attach after Close. Attach may be
// called before Start.
func (s *Server) Attach(src output.Source) {
	name, h := src.Name, src.Units
	if !ValidName(name) || h == nil {
		s.logger().Warn("rtsp: not attaching invalid path", "path", name)
		return
	}
	s.paths.Attach(name, h, func(parent context.Context) *path { return newPath(parent, name, h) })
}

// Detach stops serving name: its readers are disconnected and new requests
// get 404. It returns once the path's goroutine has exited.
func (s *Server) Detach(name string) { s.paths.Detach(name) }

// Readers returns how many RTSP sessions are playing name.
func (s *Server) Readers(name string) int {
	if p := s.lookup(name); p != nil {
		return p.readerCount()
	}
	return 0
}

// Close detaches every path, closes the listeners and every connection, and
// waits for all goroutines. Calling it again does nothing.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	srv := s.srv
	s.mu.Unlock()

	s.paths.Close() // also wakes DESCRIBEs waiting for a stream
	if srv != nil {
		srv.Close()
	}
	s.wg.Wait()
}

func (s *Server) lookup(name string) *path { return s.paths.Lookup(name) }

// startPath subscribes p to its hub now, so that nothing published after
// Attach (or Start) returns is missed, and returns p's goroutine.
func (s *Server) startPath(p *path) func() {
	r := p.hub.Subscribe(s.cfg.ringSize)
	return func() { p.run(r, s.srv, s.cfg.log) }
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// pathName turns a request path ("/cam1", "cam1/", "/cam1?x=1") into a path
// name, or "" when it is not a valid one-segment name.
func pathName(p string) string {
	p, _, _ = strings.Cut(p, "?")
	p = strings.Trim(p, "/")
	if !ValidName(p) {
		return ""
	}
	return p
}

// Package rtmp receives streams that publishers push in over RTMP and hands
// them to the publish broker. It never serves playback.
//
// A publisher pushes to rtmp://HOST:PORT/NAME, or to the application
// "live" with NAME as the stream key (rtmp://HOST:PORT/live/NAME), where
// NAME is a publish source. Credentials, when the broker wants them, go in
// the query: rtmp://HOST:PORT/NAME?user=U&pass=P (percent-encode "&",
// "%" and "#" in them).
//
// One goroutine serves each connection: the RTMP handshake, the publish
// command, about two seconds of stream to learn the tracks (gortmplib's
// analysis), then one media.Packet per access unit. Every message read is
// bounded by ReadTimeout, the whole set-up by ReadTimeout plus setupSlack.
package rtmp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/visiongate/visiongate/gateway/publish"
)

// DefaultReadTimeout bounds the wait for each message when
// Server.ReadTimeout is zero.
const DefaultReadTimeout = 10 * time.Second

// Errors of the server and of its connections.
var (
	ErrAlreadyStarted = errors.New("rtmp: server already started")
	ErrServerClosed   = errors.New("rtmp: server closed")
	ErrNoBroker       = errors.New("rtmp: server has no broker")
	// ErrPlayRefused answers a client that asks to play: publish only.
	ErrPlayRefused = errors.New("rtmp: this server only accepts publishers, not players")
	// ErrBadPath refuses a stream path that names no possible source.
	ErrBadPath = errors.New("rtmp: bad stream path")
	// ErrMalformed ends a connection whose messages broke the RTMP library.
	ErrMalformed = errors.New("rtmp: malformed stream")
)

// Server accepts RTMP publishers. Set the exported fields before Start and
// leave them alone afterwards; the methods are safe for concurrent use.
type Server struct {
	// Addr is the listen address, e.g. ":1935" or "127.0.0.1:0".
	Addr   string
	Broker *publish.Broker
	// Log may be nil.
	Log *slog.Logger
	// Listen, when set, replaces net.Listen (the app caps connections
	// there).
	Listen func(network, address string) (net.Listener, error)
	// ReadTimeout bounds the wait for each message from a publisher
	// (0: DefaultReadTimeout): a stalled publisher is disconnected.
	ReadTimeout time.Duration
	// OnFail, when set, is called once if the listener dies on its own;
	// Err reports the same error.
	OnFail func(error)

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	started bool
	closed  bool
	failure error
	closing chan struct{} // closed by Close: stops accept back-off
	wg      sync.WaitGroup
}

// Start listens on Addr and serves in goroutines of its own until Close.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrServerClosed
	case s.started:
		return ErrAlreadyStarted
	case s.Broker == nil:
		return ErrNoBroker
	}
	listen := s.Listen
	if listen == nil {
		listen = net.Listen
	}
	ln, err := listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln, s.started = ln, true
	s.conns = map[net.Conn]struct{}{}
	s.closing = make(chan struct{})
	s.wg.Add(1)
	go s.serve(ln)
	return nil
}

// ListenAddr is the address the server listens on (port 0 resolved); empty
// before Start.
func (s *Server) ListenAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Err tells why the server stopped serving on its own (nil while it
// serves, and after Close).
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

// Close stops listening, closes every connection (their publishers end)
// and waits for all of the server's goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	if s.started {
		close(s.closing)
		s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serve accepts connections until the listener is closed.
func (s *Server) serve(ln net.Listener) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err == nil {
			backoff = 0
			s.startConn(nc)
			continue
		}
		if s.isClosed() {
			return
		}
		if errors.Is(err, net.ErrClosed) {
			s.fail(err)
			return
		}
		// Out of descriptors and the like: wait, as net/http does.
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		s.logger().Warn("rtmp: accept failed, retrying", "err", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-s.closing:
			return
		}
	}
}

// startConn serves nc in a goroutine the server tracks, unless it closes.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.forget(nc)
		s.handle(nc)
	}()
}

func (s *Server) forget(nc net.Conn) {
	nc.Close()
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

func (s *Server) fail(err error) {
	err = fmt.Errorf("rtmp: server stopped serving: %w", err)
	s.mu.Lock()
	s.failure = err
	s.mu.Unlock()
	s.logger().Error("rtmp: listener failed", "err", err)
	if s.OnFail != nil {
		s.OnFail(err)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) readTimeout() time.Duration {
	if s.ReadTimeout <= 0 {
		return DefaultReadTimeout
	}
	return s.ReadTimeout
}

// Package srt takes SRT publishers in: one UDP listener shared by every
// publish source, each caller naming its source (and its credentials) in the SRT
// streamid, and sending MPEG-TS that is handed to the publish.Broker.
// The streamid is publish:NAME or publish:NAME:USER:PASS, or libsrt's
// #!::r=NAME,m=publish,u=USER,s=PASS; readers (read:...) are refused.
//
// A caller is judged during the handshake, before a connection exists:
// the connection limit, the streamid, the passphrase, the credentials,
// the source and the one-publisher rule each refuse it with an SRT reject
// reason that the caller's library reports (see rejectReason).
package srt

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	srt "github.com/datarhei/gosrt"

	"github.com/visiongate/visiongate/gateway/publish"
)

// DefaultReadTimeout is how long a publisher may send nothing.
const DefaultReadTimeout = 10 * time.Second

// Errors of Start, and the reasons a connection is refused or ended.
var (
	ErrAlreadyStarted = errors.New("srt: server already started")
	ErrServerClosed   = errors.New("srt: server closed")
	ErrConfig         = errors.New("srt: bad setting")
	ErrStreamID       = errors.New("srt: bad streamid")
	ErrNotPublish     = errors.New("srt: only publishing is accepted")
	ErrEncryption     = errors.New("srt: encryption required or unexpected")
	ErrPassphrase     = errors.New("srt: wrong passphrase")
	ErrNotMPEGTS      = errors.New("srt: not MPEG-TS")
	ErrReadTimeout    = errors.New("srt: publisher sent nothing")
)

// Server is an SRT listener for publishers. Set the fields before Start
// and leave them afterwards.
type Server struct {
	// Addr is the UDP listen address, e.g. ":8890" or "127.0.0.1:0".
	Addr   string
	Broker *publish.Broker
	// Log may be nil.
	Log *slog.Logger
	// ReadTimeout drops a publisher that sends no data for that long,
	// even if it keeps the SRT session alive (DefaultReadTimeout).
	ReadTimeout time.Duration
	// Passphrase, when set, is the SRT encryption passphrase every
	// publisher must use (10 to 79 characters); empty refuses encrypted
	// callers, whose data could not be read.
	Passphrase string

	log     *slog.Logger
	timeout time.Duration

	mu      sync.Mutex
	ln      srt.Listener
	conns   map[*conn]struct{}
	started bool
	closed  bool
	wg      sync.WaitGroup // the accept loop and every caller's goroutines
}

// Start listens on Addr and starts taking publishers.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrServerClosed
	case s.started:
		return ErrAlreadyStarted
	case s.Broker == nil:
		return fmt.Errorf("%w: no broker", ErrConfig)
	case s.Passphrase != "" && (len(s.Passphrase) < 10 || len(s.Passphrase) > 79):
		return fmt.Errorf("%w: the passphrase must have 10 to 79 characters", ErrConfig)
	}
	s.log, s.timeout = s.Log, s.ReadTimeout
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultReadTimeout
	}
	ln, err := srt.Listen("srt", s.Addr, srt.DefaultConfig())
	if err != nil {
		return fmt.Errorf("srt: %w", err)
	}
	s.ln, s.conns, s.started = ln, map[*conn]struct{}{}, true
	s.wg.Add(1)
	go s.acceptLoop(ln)
	return nil
}

// ListenAddr returns the actual host:port after Start, or "".
func (s *Server) ListenAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening, disconnects every publisher and waits for the
// server's goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ln, conns := s.ln, s.conns
	s.conns = nil
	s.mu.Unlock()
	// Ending them first makes their publishers end with the gateway's
	// reason rather than as if the peer had left.
	for c := range conns {
		c.end(publish.ErrGatewayClosed)
	}
	if ln != nil {
		ln.Close()
	}
	s.wg.Wait()
}

// acceptLoop takes handshakes until the listener closes. It never waits
// on a caller: each one admitted gets its own goroutine.
func (s *Server) acceptLoop(ln srt.Listener) {
	defer s.wg.Done()
	for {
		req, err := ln.Accept2()
		if err != nil {
			if !s.isClosed() {
				s.log.Error("srt: no longer accepting publishers", "addr", ln.Addr().String(), "err", err)
			}
			return
		}
		remote := req.RemoteAddr().String()
		release, err := s.Broker.Admit(publish.SRT)
		if err != nil {
			s.refuse(req, remote, "", err)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer release()
			s.handle(req, remote)
		}()
	}
}

// handle judges one caller, then carries its stream until it ends.
func (s *Server) handle(req srt.ConnRequest, remote string) {
	id, pub, err := s.judge(req, remote)
	if err != nil {
		s.refuse(req, remote, id.Name, err)
		return
	}
	sc, err := req.Accept()
	if err != nil {
		pub.Close(err)
		s.log.Warn("srt: accepting a publisher failed", "remote", remote, "name", id.Name, "err", err)
		return
	}
	c := newConn(s, sc, pub, remote, id.Name)
	if s.track(c) {
		s.log.Info("srt: publisher connected", "remote", remote, "name", id.Name, "user", id.User)
	} else {
		c.end(publish.ErrGatewayClosed)
	}
	c.run(s.timeout)
	s.untrack(c)
}

// judge decides on a caller during its handshake. It starts the
// publisher before the connection is accepted, so that a busy source is
// a refusal the caller reports, not a connection that drops at once.
func (s *Server) judge(req srt.ConnRequest, remote string) (streamID, *publish.Publisher, error) {
	id, err := parseStreamID(req.StreamId())
	if err == nil {
		err = s.decrypt(req)
	}
	if err == nil {
		err = s.Broker.Check(id.Name, id.User, id.Pass)
	}
	if err == nil && s.isClosed() {
		err = publish.ErrGatewayClosed
	}
	if err != nil {
		return id, nil, err
	}
	pub, err := s.Broker.Publish(publish.Announce{Name: id.Name, Protocol: publish.SRT, Remote: remote,
		User: id.User, Pass: id.Pass, Container: publish.ContainerMPEGTS})
	return id, pub, err
}

// decrypt gives an encrypted caller the passphrase; the two sides must
// agree on encrypting.
func (s *Server) decrypt(req srt.ConnRequest) error {
	switch {
	case s.Passphrase == "" && req.IsEncrypted():
		return fmt.Errorf("%w: the caller encrypts, and no passphrase is set", ErrEncryption)
	case s.Passphrase == "":
		return nil
	case !req.IsEncrypted():
		return fmt.Errorf("%w: a passphrase is required", ErrEncryption)
	}
	if err := req.SetPassphrase(s.Passphrase); err != nil {
		return ErrPassphrase
	}
	return nil
}

func (s *Server) refuse(req srt.ConnRequest, remote, name string, err error) {
	reason := rejectReason(err)
	req.Reject(reason)
	s.log.Warn("srt: publisher refused", "remote", remote, "name", name, "reason", uint32(reason), "err", err)
}

// rejectReason maps why a caller is refused to the SRT reject code its
// library shows (the 14xx codes are libsrt's access-control ones).
func rejectReason(err error) srt.RejectionReason {
	switch {
	case errors.Is(err, ErrPassphrase):
		return srt.REJ_BADSECRET
	case errors.Is(err, ErrEncryption):
		return srt.REJ_UNSECURE
	case errors.Is(err, ErrNotPublish):
		return srt.REJX_BAD_MODE
	case errors.Is(err, ErrStreamID):
		return srt.REJX_BAD_REQUEST
	case errors.Is(err, publish.ErrUnauthorized):
		return srt.REJX_UNAUTHORIZED
	case errors.Is(err, publish.ErrNoSource):
		return srt.REJX_NOTFOUND
	case errors.Is(err, publish.ErrBusy):
		return srt.REJX_CONFLICT
	case errors.Is(err, publish.ErrTooMany):
		return srt.REJX_OVERLOAD
	case errors.Is(err, publish.ErrBadStream):
		return srt.REJX_UNACCEPTABLE
	case errors.Is(err, publish.ErrGatewayClosed):
		return srt.REJ_CLOSE
	}
	return srt.REJX_ISE
}

// track records a connection for Close; false once the server is closing.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

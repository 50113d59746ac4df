package webrtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/visiongate/visiongate/gateway/publish"
)

// WHIP ingest: a publisher POSTs its offer (sendonly video, maybe Opus)
// to /webrtc/<name>/whip and gets the answer (201) with its session's
// URL, /webrtc/<name>/whip/<id>, for PATCH (trickle) and DELETE. Unlike
// WHEP, the POST is authorized here: Basic credentials, or a Bearer token
// taken as the password of the empty user, checked by the broker.

// Errors of WHIP sessions; the broker's own (publish.Err*) map to
// statuses too (ingestStatus).
var (
	// ErrIngestOff answers WHIP when the server has no broker (501).
	ErrIngestOff = errors.New("webrtc: WHIP ingest is not enabled on this server")
	// ErrNoMedia ends a publisher that sent no video for MediaTimeout.
	ErrNoMedia = errors.New("webrtc: the publisher sent no video for too long")
	// ErrConnectTimeout ends a session whose ICE never connected.
	ErrConnectTimeout = errors.New("webrtc: the publisher did not connect in time")
	// ErrConnectionLost ends a session whose connection failed or stayed
	// disconnected.
	ErrConnectionLost = errors.New("webrtc: connection to the publisher lost")
	// errServerClosed refuses a publisher while the server closes (503),
	// and ends those connected.
	errServerClosed = errors.New("webrtc: server closing")
	// Normal ends of a session: DELETE, or the publisher closed the
	// connection.
	errDeleted    = errors.New("webrtc: the publisher ended the session")
	errPeerClosed = errors.New("webrtc: the publisher closed the connection")
)

// IngestCodecError says an offer has no video codec we take (400).
type IngestCodecError struct{ Offered []string }

func (e *IngestCodecError) Error() string {
	return fmt.Sprintf("webrtc: no codec to ingest: the offer has %s; WHIP takes VP8, VP9 (profile 0), "+
		"H.264 (packetization-mode=1) or AV1 (profile 0) video", orNone(e.Offered))
}

// WHIPURL is name's WHIP endpoint, BASE/webrtc/<name>/whip, for
// publishers (the endpoint answers 501 without Options.Publish).
func (s *Server) WHIPURL(name string) string {
	base := ""
	if s.o.BaseURL != nil {
		base = s.o.BaseURL()
	}
	return base + Prefix + name + "/whip"
}

// realm names the gateway in the 401 challenge.
const realm = `Basic realm="visiongate"`

func (s *Server) serveWHIP(w http.ResponseWriter, r *http.Request, name, id string) {
	switch {
	case id == "" && r.Method == http.MethodPost:
		s.ingest(w, r, name)
	case id == "" && r.Method == http.MethodOptions:
		w.Header().Set("Accept-Post", sdpType)
		s.links(w.Header(), false)
		w.WriteHeader(http.StatusNoContent)
	case id == "":
		w.Header().Set("Allow", "OPTIONS, POST")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	default:
		s.serveIngestSession(w, r, name, id)
	}
}

func (s *Server) serveIngestSession(w http.ResponseWriter, r *http.Request, name, id string) {
	if r.Method == http.MethodOptions {
		w.Header().Set("Accept-Patch", fragType)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPatch && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "OPTIONS, PATCH, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	// The session's URL, 128 random bits, is what authorizes these.
	sess := s.ingests.lookup(name, id)
	if sess == nil {
		writeIngestErr(w, errNoSession)
		return
	}
	if r.Method == http.MethodDelete {
		sess.end(r.Context(), errDeleted)
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := patchICE(r, sess.pc, sess.etag, sess.ufrag); err != nil {
		writeIngestErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ingest starts a publisher's session: 201 with the answer.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, name string) {
	sess, answer, err := s.openIngest(r, name)
	if err != nil {
		s.log.Info("webrtc: publisher refused", "path", name, "remote", r.RemoteAddr, "err", err)
		writeIngestErr(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", sdpType)
	h.Set("Location", Prefix+name+"/whip/"+sess.id)
	h.Set("ETag", sess.etag)
	h.Set("Accept-Patch", fragType)
	h.Set("Cache-Control", "no-store")
	s.links(h, true)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// openIngest checks the publisher (credentials, source, one publisher),
// its offer and the connection limit, then answers.
func (s *Server) openIngest(r *http.Request, name string) (*ingestSession, string, error) {
	b := s.o.Publish
	if b == nil {
		return nil, "", ErrIngestOff
	}
	user, pass := credentials(r)
	if err := b.Check(name, user, pass); err != nil {
		return nil, "", err
	}
	body, err := readBody(r, sdpType)
	if err != nil {
		return nil, "", err
	}
	o, err := parseIngestOffer(body)
	if err != nil {
		return nil, "", err
	}
	release, err := b.Admit(publish.WebRTC)
	if err != nil {
		return nil, "", err
	}
	sess, err := newIngestSession(s, name, user, pass, r.RemoteAddr, o, release)
	if err != nil {
		return nil, "", err
	}
	answer, err := sess.start(r.Context())
	return sess, answer, err
}

// credentials reads Basic credentials, or a Bearer token (what OBS and
// most WHIP clients send) as the password of the empty user.
func credentials(r *http.Request) (user, pass string) {
	if u, p, ok := r.BasicAuth(); ok {
		return u, p
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if strings.EqualFold(scheme, "Bearer") {
		return "", strings.TrimSpace(token)
	}
	return "", ""
}

// writeIngestErr answers err with its status; 401 comes with the
// challenge, 503 with Retry-After.
func writeIngestErr(w http.ResponseWriter, err error) {
	code := ingestStatus(err)
	switch code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", realm)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, code, err.Error())
}

func ingestStatus(err error) int {
	switch {
	case errors.Is(err, ErrIngestOff):
		return http.StatusNotImplemented
	case errors.Is(err, publish.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, publish.ErrNoSource):
		return http.StatusNotFound
	case errors.Is(err, publish.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, publish.ErrTooMany), errors.Is(err, publish.ErrGatewayClosed),
		errors.Is(err, errServerClosed):
		return http.StatusServiceUnavailable
	case errors.As(err, new(*IngestCodecError)), errors.Is(err, publish.ErrBadStream):
		return http.StatusBadRequest
	}
	return status(err)
}

// ingests are the server's WHIP sessions, by id.
type ingests struct {
	mu     sync.Mutex
	m      map[string]*ingestSession
	closed bool
}

// add counts a session, unless the server is closing.
func (in *ingests) add(sess *ingestSession) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return errServerClosed
	}
	if in.m == nil {
		in.m = map[string]*ingestSession{}
	}
	in.m[sess.id] = sess
	return nil
}

func (in *ingests) remove(sess *ingestSession) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.m[sess.id] == sess {
		delete(in.m, sess.id)
	}
}

// lookup returns name's answered session id, or nil.
func (in *ingests) lookup(name, id string) *ingestSession {
	in.mu.Lock()
	defer in.mu.Unlock()
	if sess := in.m[id]; sess != nil && sess.name == name && sess.answered {
		return sess
	}
	return nil
}

// count is the number of sessions, those still connecting included.
func (in *ingests) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.m)
}

// answer makes a set-up session visible to PATCH and DELETE; the lock
// orders its setup before their reads.
func (in *ingests) answer(sess *ingestSession) {
	in.mu.Lock()
	defer in.mu.Unlock()
	sess.answered = true
}

// close ends every session and refuses new ones; it returns once they
// are all gone.
func (in *ingests) close() {
	in.mu.Lock()
	in.closed = true
	all := make([]*ingestSession, 0, len(in.m))
	for _, sess := range in.m {
		all = append(all, sess)
	}
	in.mu.Unlock()
	for _, sess := range all {
		sess.end(context.Background(), errServerClosed)
	}
}

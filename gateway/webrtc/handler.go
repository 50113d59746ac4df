package webrtc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/visiongate/visiongate/gateway/output"
)

// Prefix is the URL path under which Handler serves:
// /webrtc/<name>/whep and the sessions /webrtc/<name>/whep/<id>.
const Prefix = "/webrtc/"

// Media types of WHEP bodies.
const (
	sdpType  = "application/sdp"
	fragType = "application/trickle-ice-sdpfrag"
)

// maxBody bounds offers and PATCH fragments (an offer is a few kB).
const maxBody = 128 << 10

// ContentTypeError is a request body of the wrong media type (415).
type ContentTypeError struct{ Got, Want string }

func (e *ContentTypeError) Error() string {
	return "webrtc: content type " + quoteOrNone(e.Got) + ", want " + e.Want
}

func quoteOrNone(s string) string {
	if s == "" {
		return "missing"
	}
	return `"` + s + `"`
}

// Handler serves WHEP and WHIP under Prefix. It expects the full request
// path, so it can be mounted as-is, e.g. gin's r.Any("/webrtc/*path",
// gin.WrapH(h)). It checks no credentials for WHEP: the router authorizes
// POST, PATCH and DELETE before it, and lets OPTIONS (CORS preflight,
// sent without credentials) through. A WHIP POST is authorized here, with
// the publish broker's credentials (whip.go).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w.Header(), r)
	if name, id, ok := splitEndpoint(r.URL.Path, "whip"); ok {
		s.serveWHIP(w, r, name, id)
		return
	}
	name, id, ok := splitPath(r.URL.Path)
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "not found")
	case id == "":
		s.serveEndpoint(w, r, name)
	default:
		s.serveSession(w, r, name, id)
	}
}

// splitPath turns "/webrtc/<name>/whep[/<id>]" into its parts.
func splitPath(p string) (name, id string, ok bool) { return splitEndpoint(p, "whep") }

// splitEndpoint turns "/webrtc/<name>/<kind>[/<id>]" into its parts.
func splitEndpoint(p, kind string) (name, id string, ok bool) {
	rest, ok := strings.CutPrefix(p, Prefix)
	if !ok {
		return "", "", false
	}
	name, rest, _ = strings.Cut(rest, "/")
	if !output.ValidName(name) {
		return "", "", false
	}
	if rest == kind {
		return name, "", true
	}
	id, ok = strings.CutPrefix(rest, kind+"/")
	return name, id, ok && id != "" && !strings.Contains(id, "/")
}

func (s *Server) serveEndpoint(w http.ResponseWriter, r *http.Request, name string) {
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Accept-Post", sdpType)
		s.links(w.Header(), false)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		s.offer(w, r, name)
	default:
		w.Header().Set("Allow", "OPTIONS, POST")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, name, id string) {
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Accept-Patch", fragType)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPatch:
		if err := s.trickle(r, name, id); err != nil {
			writeErr(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		v, err := s.session(name, id)
		if err != nil {
			writeErr(w, err)
			return
		}
		v.end(r.Context())
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "OPTIONS, PATCH, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// offer starts a session: 201 with the answer and the session's URL.
func (s *Server) offer(w http.ResponseWriter, r *http.Request, name string) {
	v, answer, err := s.open(r, name)
	if err != nil {
		writeErr(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", sdpType)
	h.Set("Location", Prefix+name+"/whep/"+v.id)
	h.Set("ETag", v.etag)
	h.Set("Accept-Patch", fragType)
	h.Set("Cache-Control", "no-store")
	s.links(h, true)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (s *Server) open(r *http.Request, name string) (*viewer, string, error) {
	p := s.paths.Lookup(name)
	if p == nil {
		return nil, "", errUnknownSource
	}
	body, err := readBody(r, sdpType)
	if err != nil {
		return nil, "", err
	}
	o, err := parseOffer(body)
	if err != nil {
		return nil, "", err
	}
	v, err := newViewer(s, p)
	if err != nil {
		return nil, "", err
	}
	answer, err := v.start(r.Context(), o)
	return v, answer, err
}

// trickle adds the candidates of a PATCH. An ICE restart (new ufrag, or
// If-Match: *) is refused: one session, one ICE.
func (s *Server) trickle(r *http.Request, name, id string) error {
	v, err := s.session(name, id)
	if err != nil {
		return err
	}
	return patchICE(r, v.pc, v.etag, v.ufrag)
}

// patchICE adds the candidates of a PATCH to a session's connection, whose
// answer had etag and whose offer had ufrag.
func patchICE(r *http.Request, pc *webrtc.PeerConnection, etag, ufrag string) error {
	switch m := r.Header.Get("If-Match"); m {
	case "", etag:
	case "*":
		return errRestart
	default:
		return errETag
	}
	body, err := readBody(r, fragType)
	if err != nil {
		return err
	}
	f := parseFragment(string(body))
	if f.ufrag != "" && ufrag != "" && f.ufrag != ufrag {
		return errRestart
	}
	for _, c := range f.candidates {
		if err := pc.AddICECandidate(c); err != nil {
			return &OfferError{Reason: "candidate " + c.Candidate + ": " + err.Error()}
		}
	}
	return nil
}

func (s *Server) session(name, id string) (*viewer, error) {
	p := s.paths.Lookup(name)
	if p == nil {
		return nil, errNoSession
	}
	if v := p.lookup(id); v != nil {
		return v, nil
	}
	return nil, errNoSession
}

// readBody reads a request body of media type want.
func readBody(r *http.Request, want string) ([]byte, error) {
	got, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !strings.EqualFold(got, want) {
		return nil, &ContentTypeError{Got: got, Want: want}
	}
	return io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
}

// links names the ICE servers for the player (WHEP: Link rel="ice-server").
// Servers with credentials are listed only to authorized requests, not
// to the CORS preflight, which comes without credentials.
func (s *Server) links(h http.Header, authorized bool) {
	for _, srv := range s.o.ICEServers {
		cred := srv.Username != "" || srv.Credential != ""
		if cred && !authorized {
			continue
		}
		for _, u := range srv.URLs {
			l := "<" + u + `>; rel="ice-server"`
			if cred {
				l += "; username=" + quoted(srv.Username) + "; credential=" + quoted(srv.Credential) +
					`; credential-type="password"`
			}
			h.Add("Link", l)
		}
	}
}

func quoted(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (s *Server) setCORS(h http.Header, r *http.Request) {
	if s.o.AllowOrigin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", s.o.AllowOrigin)
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch, Accept-Post")
	if r.Method != http.MethodOptions {
		return
	}
	h.Set("Access-Control-Allow-Methods", "OPTIONS, POST, PATCH, DELETE")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "86400")
}

// writeErr answers err with its status.
func writeErr(w http.ResponseWriter, err error) {
	code := status(err)
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, code, err.Error())
}

func status(err error) int {
	var mb *http.MaxBytesError
	switch {
	case errors.Is(err, errUnknownSource), errors.Is(err, errGone), errors.Is(err, errNoSession):
		return http.StatusNotFound
	case errors.As(err, new(*OfferError)), errors.As(err, new(*CodecError)):
		return http.StatusBadRequest
	case errors.As(err, new(*ContentTypeError)):
		return http.StatusUnsupportedMediaType
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errRestart):
		return http.StatusUnprocessableEntity
	case errors.Is(err, errETag):
		return http.StatusPreconditionFailed
	case errors.Is(err, errFull), errors.Is(err, errNotReady), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

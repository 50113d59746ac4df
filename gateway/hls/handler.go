package hls

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
)

// Prefix is the URL path under which Handler serves: /hls/<name>/<file>.
const Prefix = "/hls/"

// Handler serves /hls/<name>/index.m3u8 and the files the playlists name
// (media playlists, init file, segments, parts). It expects the full request
// path, so it can be mounted as-is, e.g. gin's r.Any("/hls/*path",
// gin.WrapH(h)). GET and HEAD are served, OPTIONS answers a CORS preflight.
func (s *Server) Handler() http.Handler {
	s.lazyInit()
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w.Header(), r)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	name, file, ok := splitPath(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	p := s.lookup(name)
	if p == nil {
		writeError(w, http.StatusNotFound, "unknown stream "+name)
		return
	}
	p.touch(time.Now(), clientKey(r))
	defer func() { p.untouch(time.Now()) }()
	s.serveFile(w, r, p, file)
}

// serveFile hands the request to the path's muxer. Playlists wait for a
// playable muxer; other files exist only in the current one.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, p *path, file string) {
	m := p.current()
	if strings.HasSuffix(file, ".m3u8") {
		var err error
		if m, err = p.waitReady(r.Context()); err != nil {
			writeWaitError(w, err)
			return
		}
	}
	if m == nil {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = file
	if strings.HasSuffix(file, ".m3u8") && r2.URL.Query().Has("_HLS_part") {
		nextSegmentPart(m, r2)
	}
	rec := &recorder{ResponseWriter: w}
	p.waiting.Add(1)
	m.Handle(rec, r2)
	p.waiting.Add(-1)
	if !rec.wrote {
		// gohlslib writes nothing for names it does not know (old
		// segments, another muxer's prefix, the LL-HLS gap segments).
		writeError(w, http.StatusNotFound, "not found")
	}
}

func writeWaitError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errPathGone):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, errPathNotReady):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.As(err, new(UnsupportedCodecError)), errors.As(err, new(UnknownVariantError)),
		errors.As(err, new(MuxerError)):
		writeError(w, http.StatusInternalServerError, err.Error())
	default: // the client went away
		writeError(w, http.StatusServiceUnavailable, err.Error())
	}
}

// splitPath turns "/hls/<name>/<file>" into its parts.
func splitPath(p string) (name, file string, ok bool) {
	rest, ok := strings.CutPrefix(p, Prefix)
	if !ok {
		return "", "", false
	}
	name, file, ok = strings.Cut(rest, "/")
	if !ok || !ValidName(name) || file == "" || strings.Contains(file, "/") {
		return "", "", false
	}
	return name, file, true
}

func (s *Server) setCORS(h http.Header, r *http.Request) {
	if s.cfg.allowOrigin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", s.cfg.allowOrigin)
	if r.Method != http.MethodOptions {
		return
	}
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "86400")
}

// clientKey identifies a player for Readers: remote IP and User-Agent.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return host + "\x00" + r.UserAgent()
}

func writeError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// recorder notes whether the muxer answered at all.
type recorder struct {
	http.ResponseWriter
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	r.wrote = true
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Package hls publishes hubs as HLS: http://HOST/hls/<name>/index.m3u8.
//
// Each attached path runs one goroutine that reads its hub and feeds a
// gohlslib Muxer; the muxer cuts segments at keyframes and, in the default
// low-latency variant, fMP4 parts of about PartMinDuration, and serves the
// playlists, init file, segments and parts itself. Server.Handler routes
// /hls/<name>/<file> to the muxer of <name>.
//
// A muxer is built from the stream's parameters (codec, size, SPS/PPS). When
// a unit arrives whose Info differs in any of them, the muxer is replaced at
// that IDR, which makes players reload the playlist: gohlslib cannot change
// an fMP4 init file in place, so a new muxer is the simplest correct answer
// even when only the SPS/PPS bytes change.
//
// A playlist request for a path that has no playable playlist yet (the
// source has not produced its first segment, the muxer is being replaced,
// or IdleTimeout stopped it) waits up to ReadyTimeout instead of failing.
package hls

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"

	"github.com/visiongate/visiongate/gateway/output"
)

// Variants accepted in Server.Variant.
const (
	VariantLowLatency = "lowLatency" // fMP4 Low-Latency HLS (default)
	VariantFMP4       = "fmp4"       // fMP4 segments, no parts
	VariantMPEGTS     = "mpegts"     // MPEG-TS segments, for old players (H.264 only)
)

// Defaults for the zero-valued fields of Server.
const (
	DefaultSegmentCount       = 7
	DefaultSegmentMinDuration = 500 * time.Millisecond
	DefaultPartMinDuration    = 200 * time.Millisecond
	DefaultAllowOrigin        = "*"
	DefaultReadyTimeout       = 10 * time.Second
	// ReaderWindow is how recently a client must have made a request to be
	// counted by Readers.
	ReaderWindow = 10 * time.Second
)

// ValidName reports whether name can be served as a path.
func ValidName(name string) bool { return output.ValidName(name) }

// Server serves attached hubs over HLS. Set the exported fields before the
// first Attach or request and do not change them afterwards; the methods are
// safe for concurrent use. The zero value is ready to use.
type Server struct {
	// Log may be nil.
	Log *slog.Logger
	// Variant is VariantLowLatency (default), VariantFMP4 or VariantMPEGTS.
	Variant string
	// SegmentCount is how many segments the playlist lists (default 7,
	// raised to gohlslib's minimum: 7 for low latency, 3 otherwise).
	SegmentCount int
	// SegmentMinDuration: a segment ends at the first keyframe after it
	// (default 500ms), so segments follow the keyframe interval; a muxer
	// that starts asks for keyframes now and after it, so its first
	// segment, which players wait for, is that short.
	SegmentMinDuration time.Duration
	// PartMinDuration is the LL-HLS part length (default 200ms); gohlslib
	// rounds it up to a whole number of frames.
	PartMinDuration time.Duration
	// AllowOrigin is sent as Access-Control-Allow-Origin (default "*"). Set
	// NoCORS to send no CORS headers at all.
	AllowOrigin string
	NoCORS      bool
	// IdleTimeout, when > 0, stops muxing a path after no HTTP request for
	// it in that long (its hub reader is released too) and restarts on the
	// next request, which then waits for a playable playlist. 0: always on.
	IdleTimeout time.Duration
	// ReadyTimeout bounds how long a playlist request waits for a playable
	// playlist before 503 (default 10s).
	ReadyTimeout time.Duration
	// BaseURL, when set, gives the "http://host:port" URLs show.
	BaseURL func() string

	initOnce sync.Once
	cfg      settings
	paths    output.Paths[*path]
}

// settings are the Server fields with defaults applied, fixed at first use.
type settings struct {
	variant      gohlslib.MuxerVariant
	variantErr   error
	segmentCount int
	segmentMin   time.Duration
	partMin      time.Duration
	allowOrigin  string
	idleTimeout  time.Duration
	readyTimeout time.Duration
	log          *slog.Logger
}

func (s *Server) lazyInit() {
	s.initOnce.Do(func() {
		s.cfg = s.settings()
		s.paths.Start(func(p *path) func() { return p.run })
	})
}

func (s *Server) settings() settings {
	c := settings{
		segmentCount: s.SegmentCount,
		segmentMin:   orDefault(s.SegmentMinDuration, DefaultSegmentMinDuration),
		partMin:      orDefault(s.PartMinDuration, DefaultPartMinDuration),
		allowOrigin:  s.AllowOrigin,
		idleTimeout:  max(s.IdleTimeout, 0),
		readyTimeout: orDefault(s.ReadyTimeout, DefaultReadyTimeout),
		log:          s.Log,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.variant, c.variantErr = parseVariant(s.Variant)
	minSegments := 3
	if c.variant == gohlslib.MuxerVariantLowLatency {
		minSegments = 7 // gohlslib refuses fewer for LL-HLS
	}
	if c.segmentCount <= 0 {
		c.segmentCount = DefaultSegmentCount
	}
	c.segmentCount = max(c.segmentCount, minSegments)
	switch {
	case s.NoCORS:
		c.allowOrigin = ""
	case c.allowOrigin == "":
		c.allowOrigin = DefaultAllowOrigin
	}
	return c
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func parseVariant(v string) (gohlslib.MuxerVariant, error) {
	switch v {
	case "", VariantLowLatency:
		return gohlslib.MuxerVariantLowLatency, nil
	case VariantFMP4:
		return gohlslib.MuxerVariantFMP4, nil
	case VariantMPEGTS:
		return gohlslib.MuxerVariantMPEGTS, nil
	}
	return gohlslib.MuxerVariantLowLatency, UnknownVariantError{Variant: v}
}

// Protocol names the output: "hls".
func (s *Server) Protocol() string { return "hls" }

// URLs is name's playlist: BASE/hls/<name>/index.m3u8.
func (s *Server) URLs(name string) map[string]string {
	base := ""
	if s.BaseURL != nil {
		base = s.BaseURL()
	}
	return map[string]string{"hls": base + "/hls/" + name + "/index.m3u8"}
}

// Attach serves src's units at /hls/<name>/, replacing another hub
// attached under that name (its players reload); attaching the same hub
// again does nothing. Invalid names, nil hubs and Attach after Close are
// logged and ignored.
func (s *Server) Attach(src output.Source) {
	name, h := src.Name, src.Units
	s.lazyInit()
	if !ValidName(name) || h == nil {
		s.cfg.log.Warn("hls: not attaching invalid path", "path", name)
		return
	}
	if s.cfg.variantErr != nil {
		s.cfg.log.Error("hls: cannot serve", "path", name, "err", s.cfg.variantErr)
	}
	s.paths.Attach(name, h, func(parent context.Context) *path { return newPath(parent, name, h, s.cfg) })
}

// Detach stops serving name: its muxer is closed, requests waiting on it
// return, and new requests get 404. It returns once the path's goroutine has
// exited.
func (s *Server) Detach(name string) { s.paths.Detach(name) }

// Readers returns an approximate number of HLS players of name: the distinct
// clients (remote IP + User-Agent) that made a request for it in the last
// ReaderWindow. Players behind one NAT with the same browser count once.
func (s *Server) Readers(name string) int {
	if p := s.lookup(name); p != nil {
		return p.clients.count(time.Now())
	}
	return 0
}

// Close detaches every path and waits for all goroutines. Requests already
// waiting return; later ones get 404. Calling it again does nothing.
func (s *Server) Close() { s.paths.Close() }

func (s *Server) lookup(name string) *path { return s.paths.Lookup(name) }

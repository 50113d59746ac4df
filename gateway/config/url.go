package config

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// SourceKind tells network inputs from local ones.
type SourceKind int

// Kinds of source URL.
const (
	KindNetwork SourceKind = iota
	KindFile
	KindV4L2
	KindLavfi
)

// SourceURL is a validated source URL turned into what libavformat needs.
type SourceURL struct {
	Kind   SourceKind
	Scheme string
	// Input is the string handed to avformat_open_input.
	Input string
	// Format forces an input format ("video4linux2", "lavfi"); empty lets
	// libavformat probe.
	Format string
	// Options are demuxer options (v4l2 size and frame rate).
	Options map[string]string
	// Whitelist is the protocol whitelist for this input and everything it
	// opens (HLS segments, RTP sockets), so nested protocols such as file:,
	// concat: or data: cannot reach local files.
	Whitelist string
	// Loop and RealTime apply to local files: start over at the end and
	// read no faster than the frame rate.
	Loop     bool
	RealTime bool
}

// Protocol whitelists per URL scheme, in libavformat's protocol names.
var networkWhitelists = map[string]string{
	"rtsp":  "rtsp,rtp,srtp,udp,tcp",
	"rtsps": "rtsp,rtsps,rtp,srtp,udp,tcp,tls",
	"rtmp":  "rtmp,tcp",
	"rtmps": "rtmp,rtmps,tcp,tls",
	"http":  "http,https,tcp,tls,crypto,httpproxy",
	"https": "http,https,tcp,tls,crypto,httpproxy",
	"srt":   "srt",
	"udp":   "udp",
}

// Errors returned by ParseSourceURL; wrapped with detail.
var (
	ErrURLScheme = errors.New("unsupported URL scheme")
	ErrURLLocal  = errors.New("local sources are not enabled")
	ErrURLForm   = errors.New("malformed URL")
)

const maxURLLength = 4096

// ParseSourceURL checks a source URL against the scheme policy and returns
// how to open it. allowLocal permits file://, v4l2:// and lavfi: URLs.
func ParseSourceURL(raw string, allowLocal bool) (*SourceURL, error) {
	if raw == "" || len(raw) > maxURLLength || strings.ContainsAny(raw, "\x00\r\n\t ") {
		return nil, fmt.Errorf("%w: empty, too long or containing spaces or control characters", ErrURLForm)
	}
	if rest, ok := strings.CutPrefix(raw, "lavfi:"); ok {
		if !allowLocal {
			return nil, fmt.Errorf("%w: lavfi", ErrURLLocal)
		}
		return parseLavfi(rest)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the whole URL, password included; keep the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %v", ErrURLForm, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if wl, ok := networkWhitelists[scheme]; ok {
		if u.Host == "" {
			return nil, fmt.Errorf("%w: %s URL needs a host", ErrURLForm, scheme)
		}
		return &SourceURL{Kind: KindNetwork, Scheme: scheme, Input: raw, Whitelist: wl}, nil
	}
	switch scheme {
	case "file", "v4l2":
		if !allowLocal {
			return nil, fmt.Errorf("%w: %s", ErrURLLocal, scheme)
		}
		return parseLocal(scheme, u)
	}
	return nil, fmt.Errorf("%w %q: use rtsp, rtsps, rtmp, rtmps, http, https, srt or udp", ErrURLScheme, u.Scheme)
}

func parseLocal(scheme string, u *url.URL) (*SourceURL, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("%w: %s URL must be %s:///absolute/path", ErrURLForm, scheme, scheme)
	}
	p := path.Clean(u.Path)
	if !path.IsAbs(p) || p != u.Path {
		return nil, fmt.Errorf("%w: path must be absolute and clean", ErrURLForm)
	}
	q := u.Query()
	if scheme == "file" {
		loop := q.Get("loop") != "false"
		return &SourceURL{Kind: KindFile, Scheme: scheme, Input: p, Whitelist: "file",
			Loop: loop, RealTime: true}, nil
	}
	if !strings.HasPrefix(p, "/dev/") {
		return nil, fmt.Errorf("%w: v4l2 path must be under /dev/", ErrURLForm)
	}
	opts := map[string]string{}
	if v := q.Get("size"); v != "" {
		if !validSize(v) {
			return nil, fmt.Errorf("%w: size must look like 1280x720", ErrURLForm)
		}
		opts["video_size"] = v
	}
	if v := q.Get("fps"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err != nil || f <= 0 || f > 240 {
			return nil, fmt.Errorf("%w: fps must be a number between 0 and 240", ErrURLForm)
		}
		opts["framerate"] = v
	}
	if v := q.Get("format"); v != "" {
		opts["input_format"] = v
	}
	return &SourceURL{Kind: KindV4L2, Scheme: scheme, Input: p, Format: "video4linux2",
		Options: opts, Whitelist: "file"}, nil
}

func parseLavfi(graph string) (*SourceURL, error) {
	if graph == "" {
		return nil, fmt.Errorf("%w: lavfi needs a filter graph, e.g. lavfi:testsrc2=size=640x360:rate=25", ErrURLForm)
	}
	// movie/amovie read arbitrary files; a lavfi source generates video.
	if strings.Contains(graph, "movie") {
		return nil, fmt.Errorf("%w: lavfi movie filters are not allowed", ErrURLForm)
	}
	return &SourceURL{Kind: KindLavfi, Scheme: "lavfi", Input: graph, Format: "lavfi",
		Whitelist: "none", RealTime: true}, nil
}

func validSize(s string) bool {
	w, h, ok := strings.Cut(s, "x")
	if !ok {
		return false
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	return err1 == nil && err2 == nil && wi > 0 && hi > 0 && wi <= maxDimension && hi <= maxDimension
}

// MaskURL hides the password of a URL's credentials, for logs and status.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return maskUnparsed(raw)
	}
	if u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// maskUnparsed hides everything between "://" and the last "@" of a URL
// that does not parse: its password cannot be told apart reliably.
func maskUnparsed(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		return raw
	}
	return scheme + "://xxxxx" + rest[at:]
}

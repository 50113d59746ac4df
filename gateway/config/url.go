package config

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
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
	// KindPublish has no URL to pull: it waits for a publisher.
	KindPublish
)

// PublishURL is the url of a source that waits for a publisher (RTSP
// RECORD, RTMP, SRT or WHIP) instead of pulling.
const PublishURL = "publish"

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
	// Egress, when set, is checked at connect time against the host's
	// addresses (see Config.SourceInput).
	Egress *EgressPolicy
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
	// ErrURLLavfi: a lavfi graph outside the allow-list of source filters
	// and their options.
	ErrURLLavfi = errors.New("lavfi graph not allowed")
	// ErrURLOption: a query parameter libav would take as an option,
	// outside the scheme's allow-list or its bounds.
	ErrURLOption = errors.New("URL option not allowed")
)

const maxURLLength = 4096

// ParseSourceURL checks a source URL against the scheme policy and returns
// how to open it. allowLocal permits file://, v4l2:// and lavfi: URLs.
func ParseSourceURL(raw string, allowLocal bool) (*SourceURL, error) {
	if raw == "" || len(raw) > maxURLLength || strings.ContainsAny(raw, "\x00\r\n\t ") {
		return nil, fmt.Errorf("%w: empty, too long or containing spaces or control characters", ErrURLForm)
	}
	if raw == PublishURL {
		return &SourceURL{Kind: KindPublish, Scheme: PublishURL}, nil
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
		if err := checkNetworkQuery(scheme, raw); err != nil {
			return nil, err
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
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", ErrURLForm, err)
	}
	if scheme == "file" {
		return parseFile(p, q)
	}
	return parseV4L2(p, q)
}

func parseFile(p string, q url.Values) (*SourceURL, error) {
	if err := onlyParams(q, "loop"); err != nil {
		return nil, err
	}
	loop := true
	switch q.Get("loop") {
	case "", "true":
	case "false":
		loop = false
	default:
		return nil, fmt.Errorf("%w: loop must be true or false", ErrURLOption)
	}
	return &SourceURL{Kind: KindFile, Scheme: "file", Input: p, Whitelist: "file",
		Loop: loop, RealTime: true}, nil
}

// v4l2Formats are the capture formats a v4l2:// URL may ask for.
var v4l2Formats = []string{"mjpeg", "h264", "yuyv422", "uyvy422", "nv12", "nv21", "yuv420p", "rgb24", "bgr24", "gray"}

// Bounds of v4l2 capture settings.
const (
	maxCaptureDimension = 8192
	maxCaptureFPS       = 240
)

var fpsRe = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,6})?$`)

func parseV4L2(p string, q url.Values) (*SourceURL, error) {
	if !strings.HasPrefix(p, "/dev/") {
		return nil, fmt.Errorf("%w: v4l2 path must be under /dev/", ErrURLForm)
	}
	if err := onlyParams(q, "size", "fps", "format"); err != nil {
		return nil, err
	}
	opts := map[string]string{}
	if v := q.Get("size"); v != "" {
		if !validSize(v) {
			return nil, fmt.Errorf("%w: size must look like 1280x720, each at most %d", ErrURLOption, maxCaptureDimension)
		}
		opts["video_size"] = v
	}
	if v := q.Get("fps"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); !fpsRe.MatchString(v) || err != nil || f <= 0 || f > maxCaptureFPS {
			return nil, fmt.Errorf("%w: fps must be a number above 0 and at most %d", ErrURLOption, maxCaptureFPS)
		}
		opts["framerate"] = v
	}
	if v := q.Get("format"); v != "" {
		if !oneOf(v, v4l2Formats) {
			return nil, fmt.Errorf("%w: format must be one of %v", ErrURLOption, v4l2Formats)
		}
		opts["input_format"] = v
	}
	return &SourceURL{Kind: KindV4L2, Scheme: "v4l2", Input: p, Format: "video4linux2",
		Options: opts, Whitelist: "file"}, nil
}

// onlyParams refuses query parameters outside names, and repeated ones.
func onlyParams(q url.Values, names ...string) error {
	for k, vs := range q {
		if !oneOf(k, names) {
			return fmt.Errorf("%w: %q (allowed: %s)", ErrURLOption, k, strings.Join(names, ", "))
		}
		if len(vs) > 1 {
			return fmt.Errorf("%w: %q given twice", ErrURLOption, k)
		}
	}
	return nil
}

func validSize(s string) bool {
	w, h, ok := strings.Cut(s, "x")
	if !ok {
		return false
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	return err1 == nil && err2 == nil && wi > 0 && hi > 0 && wi <= maxCaptureDimension && hi <= maxCaptureDimension
}

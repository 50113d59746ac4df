package rtmp

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/visiongate/visiongate/gateway/config"
)

// appLive is the one application a publisher may name before the source
// (rtmp://HOST/live/NAME), for tools that ask for an app and a stream key.
const appLive = "live"

// parseStreamURL tells which source a publish URL names, and the
// credentials in its query.
func parseStreamURL(u *url.URL) (name, user, pass string, err error) {
	name = strings.Trim(u.Path, "/")
	if rest, ok := strings.CutPrefix(name, appLive+"/"); ok {
		name = rest
	}
	if !config.ValidName(name) {
		return "", "", "", fmt.Errorf("%w %q: publish to rtmp://HOST:PORT/NAME or rtmp://HOST:PORT/live/NAME",
			ErrBadPath, clip(name))
	}
	user, pass = credentials(u.RawQuery)
	return name, user, pass, nil
}

// credentials reads user and pass from a raw query. Publishers seldom
// escape them, so "+" stays a plus; valid %XX escapes are decoded.
func credentials(query string) (user, pass string) {
	for kv := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "user":
			user = unescape(v)
		case "pass":
			pass = unescape(v)
		}
	}
	return user, pass
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// clip shortens what a client sent before it goes into a log line.
func clip(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		return s[:maxLen] + "..."
	}
	return s
}

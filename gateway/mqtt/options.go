package mqtt

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Defaults for the zero values of Options.
const (
	DefaultTopicPrefix     = "visiongate"
	DefaultDiscoveryPrefix = "homeassistant"
	DefaultQueueSize       = 1024
)

// Options configure a Publisher. The zero value of each optional field
// means its default.
type Options struct {
	// URL of the broker: tcp:// or mqtt:// (port 1883 by default), ssl://,
	// tls:// or mqtts:// (port 8883). Credentials may be given here as
	// userinfo or in Username and Password, not both.
	URL                string
	Username, Password string
	// TopicPrefix is the first level(s) of every topic; default "visiongate".
	TopicPrefix string
	// ClientID defaults to "visiongate-<hostname>". Two gateways on one
	// broker need different IDs, or the broker keeps dropping one of them.
	ClientID string
	Log      *slog.Logger
	// QueueSize is how many events may wait while the broker is slow;
	// more are dropped (counted). Default 1024.
	QueueSize int
	// DiscoveryPrefix is Home Assistant's discovery prefix; default
	// "homeassistant".
	DiscoveryPrefix string
}

// ConfigError says which option is wrong and why. It never contains the
// URL or the credentials.
type ConfigError struct {
	Field  string // "url", "username", "topic_prefix", "discovery_prefix", "client_id", "queue_size"
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("mqtt: invalid %s: %s", e.Field, e.Reason)
}

// Validate checks the options as Start would use them (defaults applied).
func (o Options) Validate() error {
	o = o.withDefaults()
	b, err := parseBrokerURL(o.URL)
	if err != nil {
		return err
	}
	if _, _, err := o.credentials(b); err != nil {
		return err
	}
	if !validString(o.Username) {
		return &ConfigError{"username", "must be UTF-8 without NUL"}
	}
	if r := prefixProblem(o.TopicPrefix); r != "" {
		return &ConfigError{"topic_prefix", r}
	}
	if r := prefixProblem(o.DiscoveryPrefix); r != "" {
		return &ConfigError{"discovery_prefix", r}
	}
	if !validString(o.ClientID) {
		return &ConfigError{"client_id", "must be UTF-8 without NUL"}
	}
	if o.QueueSize < 0 {
		return &ConfigError{"queue_size", "must not be negative"}
	}
	return nil
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.TopicPrefix == "" {
		o.TopicPrefix = DefaultTopicPrefix
	}
	if o.DiscoveryPrefix == "" {
		o.DiscoveryPrefix = DefaultDiscoveryPrefix
	}
	if o.ClientID == "" {
		o.ClientID = "visiongate"
		if h, err := os.Hostname(); err == nil && h != "" {
			o.ClientID += "-" + h
		}
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// broker is a parsed broker URL: the address to dial, without credentials,
// and the credentials apart.
type broker struct {
	url      *url.URL // scheme://host:port only
	tls      bool
	user     string
	password string
	hasCreds bool
}

// parseBrokerURL validates raw. Its errors never quote raw: it may hold a
// password.
func parseBrokerURL(raw string) (broker, error) {
	bad := func(reason string) (broker, error) { return broker{}, &ConfigError{"url", reason} }
	if raw == "" {
		return bad("missing (e.g. tcp://homeassistant.local:1883)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a valid URL")
	}
	b := broker{}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
		port = "1883"
	case "ssl", "tls", "mqtts":
		port, b.tls = "8883", true
	default:
		return bad("scheme must be tcp, mqtt, ssl, tls or mqtts")
	}
	if u.Hostname() == "" {
		return bad("missing host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("port must be 1-65535")
		}
		port = p
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return bad("must not have a path, query or fragment")
	}
	if u.User != nil {
		b.user, b.hasCreds = u.User.Username(), true
		b.password, _ = u.User.Password()
	}
	b.url = &url.URL{Scheme: strings.ToLower(u.Scheme), Host: net.JoinHostPort(u.Hostname(), port)}
	return b, nil
}

// credentials picks the URL's or the options' credentials.
func (o Options) credentials(b broker) (user, password string, err error) {
	if b.hasCreds && (o.Username != "" || o.Password != "") {
		return "", "", &ConfigError{"url", "credentials given both in the URL and in username/password"}
	}
	if b.hasCreds {
		return b.user, b.password, nil
	}
	return o.Username, o.Password, nil
}

// prefixProblem says what is wrong with a topic prefix, or "".
func prefixProblem(p string) string {
	switch {
	case !validString(p):
		return "must be UTF-8 without NUL"
	case strings.ContainsAny(p, "+#"):
		return "must not contain the wildcards + or #"
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		return "must not start or end with /"
	case strings.Contains(p, "//"):
		return "must not have empty levels (//)"
	case strings.HasPrefix(p, "$"):
		return "must not start with $ (reserved for the broker)"
	}
	return ""
}

func validString(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// TopicLevel makes s usable as one topic level (and as a Home Assistant
// object id): every character outside [A-Za-z0-9_-] becomes '_', and an
// empty s becomes "_". Distinct names may map to the same level.
func TopicLevel(s string) string {
	if s == "" {
		return "_"
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !levelByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // per rune, so "é" is one '_', not two
		if r < utf8.RuneSelf && levelByte(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func levelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// zoneLevel is a zone's topic level; a zone named "all" is renamed so it
// cannot overwrite the all-objects count.
func zoneLevel(zone string) string {
	if l := TopicLevel(zone); l != allLevel {
		return l
	}
	return "zone_" + allLevel
}

// allLevel is the zone level of the all-objects counts.
const allLevel = "all"

// Package config defines visiongate's configuration: the YAML file, the
// source objects shared with the REST API, their defaults and validation.
package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultYAML []byte

// Config is the whole gateway configuration.
type Config struct {
	HTTP string `yaml:"http" json:"http"`
	RTSP string `yaml:"rtsp" json:"rtsp"`
	// RTSP over UDP needs an even/odd pair of ports for RTP and RTCP;
	// empty strings keep the defaults, "off" disables UDP.
	RTSPRTPAddress  string `yaml:"rtsp_rtp_address" json:"rtsp_rtp_address"`
	RTSPRTCPAddress string `yaml:"rtsp_rtcp_address" json:"rtsp_rtcp_address"`
	// RTMP and SRT are where publishers push in (publish.go); "off"
	// disables a listener.
	RTMP string `yaml:"rtmp" json:"rtmp"`
	SRT  string `yaml:"srt" json:"srt"`
	// AutoPublish creates a publish source when a publisher pushes to a
	// name that has none, and removes it when the publisher leaves.
	AutoPublish bool `yaml:"auto_publish" json:"auto_publish"`
	// WebRTC configures WHEP playback and WHIP publishing.
	WebRTC WebRTC `yaml:"webrtc" json:"webrtc"`
	State  string `yaml:"state" json:"state"`
	// PublicHost is the host name used in output URLs shown to users;
	// empty means the host the request came to (or 127.0.0.1).
	PublicHost string `yaml:"public_host" json:"public_host"`
	// AllowLocalSources lets sources from the config file use file://,
	// v4l2:// and lavfi: URLs. Sources added through the API never can,
	// unless APILocalSources is also set.
	AllowLocalSources bool `yaml:"allow_local_sources" json:"allow_local_sources"`
	APILocalSources   bool `yaml:"api_local_sources" json:"api_local_sources"`
	// Auth: credentials for the API and page (admin) and for watching
	// (RTSP, HLS, MJPEG, snapshots). Empty means open.
	Auth Auth `yaml:"auth" json:"-"`
	// ModelsDir holds the models, class lists and cascades that sources
	// name; empty means models/ beside the state file.
	ModelsDir string `yaml:"models_dir" json:"models_dir"`
	// MQTT, when its URL is set, sends events and counts to a broker.
	MQTT MQTT `yaml:"mqtt" json:"-"`
	// Limits bound what clients can take.
	Limits Limits `yaml:"limits" json:"limits"`
	// Egress limits where API sources may connect (egress.go).
	Egress Egress `yaml:"egress" json:"egress"`
	// HLS configures /hls/NAME/index.m3u8.
	HLS HLS `yaml:"hls" json:"hls"`
	// Reconnect bounds the exponential backoff (with jitter) between a
	// source's attempts: 1s doubling up to 30s by default.
	Reconnect Reconnect `yaml:"reconnect" json:"reconnect"`
	// Defaults apply to every source that leaves a field empty.
	HWAccel string  `yaml:"hwaccel" json:"hwaccel"`
	Encoder Encoder `yaml:"encoder" json:"encoder"`
	// Sources are the sources defined in the file. A nil list (no
	// "sources:" key) is different from an empty one only for the embedded
	// default config; Load keeps whatever the file says.
	Sources []Source `yaml:"sources" json:"sources"`
}

// Default returns the embedded default configuration with its demo source.
func Default() *Config {
	c, err := Parse(defaultYAML)
	if err != nil {
		panic("config: embedded default is invalid: " + err.Error())
	}
	return c
}

// Load reads and validates a YAML configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML (unknown keys are errors), fills defaults and validates.
func Parse(data []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && err.Error() != "EOF" {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.fillDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) fillDefaults() {
	if c.HTTP == "" {
		c.HTTP = ":8080"
	}
	if c.RTSP == "" {
		c.RTSP = ":8554"
	}
	if c.RTSPRTPAddress == "" && c.RTSPRTCPAddress == "" {
		c.RTSPRTPAddress, c.RTSPRTCPAddress = ":8000", ":8001"
	}
	if c.HWAccel == "" {
		c.HWAccel = HWAccelAuto
	}
	if c.Limits.ReadersPerSource == 0 {
		c.Limits.ReadersPerSource = 100
	}
	c.Limits.fillDefaults()
	if c.Reconnect.Min.D == 0 {
		c.Reconnect.Min.D = time.Second
	}
	if c.Reconnect.Max.D == 0 {
		c.Reconnect.Max.D = 30 * time.Second
	}
	c.Encoder.fillDefaults()
	c.fillPublishDefaults()
}

// Validate checks the global settings and every source, naming the first bad
// field.
func (c *Config) Validate() error {
	if !oneOf(c.HWAccel, hwAccels) {
		return fieldErr("hwaccel", "must be one of %v", hwAccels)
	}
	if err := c.Encoder.validate("encoder"); err != nil {
		return err
	}
	if err := c.Auth.validate(); err != nil {
		return err
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if err := c.validatePublish(); err != nil {
		return err
	}
	if !oneOf(c.HLS.Variant, hlsVariants) {
		return fieldErr("hls.variant", "must be lowLatency, fmp4 or mpegts")
	}
	if c.HLS.SegmentCount < 0 || c.HLS.SegmentCount > 100 {
		return fieldErr("hls.segment_count", "must be between 0 and 100")
	}
	if c.Reconnect.Min.D < 10*time.Millisecond || c.Reconnect.Max.D < c.Reconnect.Min.D {
		return fieldErr("reconnect", "min must be at least 10ms and max at least min")
	}
	if err := c.validatePolicies(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range c.Sources {
		s := &c.Sources[i]
		if err := s.validate(sourcePolicy{allowLocal: c.AllowLocalSources, allowCAFile: true}); err != nil {
			return prefixErr(fmt.Sprintf("sources[%d]", i), err)
		}
		if err := c.checkConfigModelFiles(s.Vision); err != nil {
			return prefixErr(fmt.Sprintf("sources[%d]", i), err)
		}
		if seen[s.Name] {
			return fieldErr(fmt.Sprintf("sources[%d].name", i), "duplicate name %q", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// Resolve returns a copy of s with every empty setting taken from the
// global defaults, ready for a pipeline.
func (c *Config) Resolve(s Source) Source {
	if s.HWAccel == "" {
		s.HWAccel = c.HWAccel
	}
	s.Encoder = s.Encoder.Merge(c.Encoder)
	if s.Transport == "" {
		s.Transport = TransportAuto
	}
	if s.Transcode == nil {
		t := true
		s.Transcode = &t
	}
	if s.ConnectTimeout.D == 0 {
		s.ConnectTimeout.D = 10 * time.Second
	}
	if s.ReadTimeout.D == 0 {
		s.ReadTimeout.D = 5 * time.Second
	}
	return s
}

// MQTT is the broker events and counts go to; it never appears in status
// or logs with its password.
type MQTT struct {
	URL             string `yaml:"url"` // tcp://host:1883 or ssl://host:8883
	Username        string `yaml:"username"`
	Password        string `yaml:"password"`
	TopicPrefix     string `yaml:"topic_prefix"`     // visiongate
	ClientID        string `yaml:"client_id"`        // visiongate-HOSTNAME
	DiscoveryPrefix string `yaml:"discovery_prefix"` // homeassistant
}

// Auth holds the gateway's credentials; it never appears in status or logs.
// Any credential set makes every protocol ask for one: admin credentials
// (Username/Password, or Token) grant everything, the read account the
// media and event routes only.
type Auth struct {
	Token        string `yaml:"token"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	ReadUsername string `yaml:"read_username"`
	ReadPassword string `yaml:"read_password"`
	// PublishUsername and PublishPassword may push streams in; the admin
	// credentials may too.
	PublishUsername string `yaml:"publish_username"`
	PublishPassword string `yaml:"publish_password"`
	// HTTPAllowedHosts are the host names HTTP requests may name in their
	// Host header (403 otherwise), against DNS rebinding. Empty: only
	// localhost, 127.0.0.1 and ::1 (and public_host) when the HTTP server
	// listens on loopback only, no check otherwise. ["*"]: no check.
	HTTPAllowedHosts []string `yaml:"http_allowed_hosts"`
}

// Admin reports whether admin credentials (user and password, or token) are set.
func (a Auth) Admin() bool { return a.Username != "" || a.Token != "" }

// Enabled reports whether any credential is set.
func (a Auth) Enabled() bool { return a.Admin() || a.ReadUsername != "" }

func (a Auth) validate() error {
	switch {
	case (a.Username == "") != (a.Password == ""):
		return fieldErr("auth.password", "username and password go together")
	case (a.PublishUsername == "") != (a.PublishPassword == ""):
		return fieldErr("auth.publish_password", "publish_username and publish_password go together")
	case a.PublishUsername != "" && !a.Admin():
		return fieldErr("auth.publish_username", "publish credentials need admin credentials too")
	case (a.ReadUsername == "") != (a.ReadPassword == ""):
		return fieldErr("auth.read_password", "read_username and read_password go together")
	case a.ReadUsername != "" && !a.Admin():
		return fieldErr("auth.read_username", "read credentials need admin credentials too "+
			"(auth.username and auth.password, or auth.token): without them the API would be open")
	case a.ReadUsername != "" && a.ReadUsername == a.Username:
		return fieldErr("auth.read_username", "must differ from auth.username")
	}
	for i, h := range a.HTTPAllowedHosts {
		if h == "" || strings.ContainsAny(h, " \t/@?#") || (h == "*" && len(a.HTTPAllowedHosts) > 1) {
			return fieldErr(fmt.Sprintf("auth.http_allowed_hosts[%d]", i),
				"must be a host name or IP address without a port, or \"*\" alone")
		}
	}
	return nil
}

// Limits on clients. 0 means the default; -1 means unlimited.
type Limits struct {
	// ReadersPerSource caps RTSP readers and MJPEG viewers of each source
	// (each counted on its own); default 100.
	ReadersPerSource int `yaml:"readers_per_source" json:"readers_per_source"`
	// HTTPConnections caps open HTTP connections; default 1000. Beyond
	// it, new connections wait.
	HTTPConnections int `yaml:"http_connections" json:"http_connections"`
	// HTTPConnectionsPerAddress caps the HTTP connections of one client
	// address; default 32. Beyond it, new ones get 429 and are closed.
	HTTPConnectionsPerAddress int `yaml:"http_connections_per_address" json:"http_connections_per_address"`
	// RTSPConnections caps open RTSP connections; default 1000. Beyond it,
	// and beyond RTSPConnectionsPerAddress (default 32) for one client
	// address, new connections are closed at once.
	RTSPConnections           int `yaml:"rtsp_connections" json:"rtsp_connections"`
	RTSPConnectionsPerAddress int `yaml:"rtsp_connections_per_address" json:"rtsp_connections_per_address"`
	// AuthFailuresPerMinute is how many failed logins (HTTP and RTSP
	// together) one address may make in a minute before it is refused
	// (429, RTSP 503) for the rest of that minute; default 10.
	AuthFailuresPerMinute int `yaml:"auth_failures_per_minute" json:"auth_failures_per_minute"`
	// PublishConnections caps the open publishing connections of each
	// protocol (RTSP RECORD, RTMP, SRT, WHIP); default 64.
	PublishConnections int `yaml:"publish_connections" json:"publish_connections"`
	// Sources caps the sources that run, config file and API together;
	// default 256 (policy.go).
	Sources int `yaml:"sources" json:"sources"`
}

// limitDefaults are the values Limits' zero fields take.
var limitDefaults = Limits{ReadersPerSource: 100, HTTPConnections: 1000, HTTPConnectionsPerAddress: 32,
	RTSPConnections: 1000, RTSPConnectionsPerAddress: 32, AuthFailuresPerMinute: 10, PublishConnections: 64}

type namedLimit struct {
	name string
	v    *int
}

// clientLimits lists the client limits with their YAML names.
func (l *Limits) clientLimits() []namedLimit {
	return []namedLimit{{"readers_per_source", &l.ReadersPerSource}, {"http_connections", &l.HTTPConnections},
		{"http_connections_per_address", &l.HTTPConnectionsPerAddress}, {"rtsp_connections", &l.RTSPConnections},
		{"rtsp_connections_per_address", &l.RTSPConnectionsPerAddress},
		{"auth_failures_per_minute", &l.AuthFailuresPerMinute}, {"publish_connections", &l.PublishConnections}}
}

func (l *Limits) fillDefaults() {
	d := limitDefaults
	defaults := d.clientLimits()
	for i, lim := range l.clientLimits() {
		if *lim.v == 0 {
			*lim.v = *defaults[i].v
		}
	}
}

func (l *Limits) validate() error {
	for _, lim := range l.clientLimits() {
		if *lim.v < -1 {
			return fieldErr("limits."+lim.name, "must be -1 (unlimited), 0 (the default) or more")
		}
	}
	return nil
}

// HLS settings. Zero values keep the defaults: Low-Latency HLS (fMP4),
// 7 segments of at least 1s (they end on keyframes), 200ms parts, any
// origin allowed.
type HLS struct {
	// Variant: lowLatency, fmp4, or mpegts for old players.
	Variant         string   `yaml:"variant,omitempty" json:"variant,omitempty"`
	SegmentCount    int      `yaml:"segment_count,omitempty" json:"segment_count,omitempty"`
	SegmentDuration Duration `yaml:"segment_duration,omitempty" json:"segment_duration,omitzero"`
	PartDuration    Duration `yaml:"part_duration,omitempty" json:"part_duration,omitzero"`
	// AllowOrigin is the CORS Access-Control-Allow-Origin; "none" sends
	// no CORS headers.
	AllowOrigin string `yaml:"allow_origin,omitempty" json:"allow_origin,omitempty"`
	// IdleTimeout stops muxing a source nobody requested for this long
	// (0: always on).
	IdleTimeout Duration `yaml:"idle_timeout,omitempty" json:"idle_timeout,omitzero"`
}

var hlsVariants = []string{"", "lowLatency", "fmp4", "mpegts"}

// Reconnect is the retry backoff of every source.
type Reconnect struct {
	Min Duration `yaml:"min" json:"min"`
	Max Duration `yaml:"max" json:"max"`
}

// Duration is a time.Duration written as "5s" or "250ms" in YAML and JSON.
type Duration struct{ D time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.D.String()) }

// UnmarshalJSON accepts "1.5s" strings, a number of seconds or null.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // encoding/json convention: null leaves the value alone
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return d.parse(s)
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"5s\" or seconds")
	}
	d.D = time.Duration(secs * float64(time.Second))
	return d.check()
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.D.String(), nil }

// UnmarshalYAML accepts "1.5s" strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return d.parse(n.Value) }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	d.D = v
	return d.check()
}

func (d *Duration) check() error {
	if d.D < 0 || d.D > 24*time.Hour {
		return fmt.Errorf("duration %s out of range (0 to 24h)", d.D)
	}
	return nil
}

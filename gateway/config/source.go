package config

import (
	"fmt"
	"regexp"
	"time"
)

// Hardware acceleration choices for decoding.
const (
	HWAccelAuto  = "auto"
	HWAccelNone  = "none"
	HWAccelVAAPI = "vaapi"
	HWAccelCUDA  = "cuda"
	HWAccelQSV   = "qsv"
)

var hwAccels = []string{HWAccelAuto, HWAccelNone, HWAccelVAAPI, HWAccelCUDA, HWAccelQSV}

// RTSP transports.
const (
	TransportAuto = "auto"
	TransportTCP  = "tcp"
	TransportUDP  = "udp"
)

var transports = []string{TransportAuto, TransportTCP, TransportUDP}

// Audio choices.
const (
	AudioAuto = "auto"
	AudioOff  = "off"
	AudioAAC  = "aac"
	AudioOpus = "opus"
)

var audioModes = []string{AudioAuto, AudioOff, AudioAAC, AudioOpus}

var nameRe = regexp.MustCompile(NamePattern)

// NamePattern is the rule every source name follows.
const NamePattern = `^[A-Za-z0-9_-]{1,64}$`

// ValidName reports whether name is a valid source name; names become URL
// paths, so nothing else may reach a router or the filesystem.
func ValidName(name string) bool { return nameRe.MatchString(name) }

// Source is one input, as written in the config file and in API requests.
type Source struct {
	Name string `yaml:"name" json:"name"`
	URL  string `yaml:"url" json:"url"`
	// Transport is the RTSP transport: auto (UDP, then TCP), tcp or udp.
	Transport string `yaml:"transport,omitempty" json:"transport,omitempty"`
	// HWAccel picks the decoder: auto, none, vaapi, cuda or qsv.
	HWAccel string `yaml:"hwaccel,omitempty" json:"hwaccel,omitempty"`
	// Transcode false republishes the input's H.264/H.265 untouched when
	// no vision runs. Default true.
	Transcode *bool `yaml:"transcode,omitempty" json:"transcode,omitempty"`
	// OnDemand true (the default) runs the encoder and the HLS muxer only
	// while someone watches; false keeps them running for nobody.
	OnDemand *bool `yaml:"on_demand,omitempty" json:"on_demand,omitempty"`
	// Audio: auto (the default) passes the camera's sound through to the
	// outputs that carry its codec; off drops it.
	Audio   string  `yaml:"audio,omitempty" json:"audio,omitempty"`
	Encoder Encoder `yaml:"encoder,omitempty" json:"encoder,omitzero"`
	Vision  *Vision `yaml:"vision,omitempty" json:"vision,omitempty"`
	// ConnectTimeout bounds opening the input; ReadTimeout bounds the wait
	// for the next packet once running.
	ConnectTimeout Duration `yaml:"connect_timeout,omitempty" json:"connect_timeout,omitzero"`
	ReadTimeout    Duration `yaml:"read_timeout,omitempty" json:"read_timeout,omitzero"`
	// TLSVerify false accepts any certificate from an https, rtsps or
	// rtmps source; by default it must chain to the system's CAs, or to
	// CAFile (a PEM file; config file only, or api_local_sources).
	TLSVerify *bool  `yaml:"tls_verify,omitempty" json:"tls_verify,omitempty"`
	CAFile    string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// Override lets a new publisher of a publish source take over from
	// the connected one; by default it is refused.
	Override bool `yaml:"override,omitempty" json:"override,omitempty"`
}

// Publish reports whether the source waits for a publisher.
func (s *Source) Publish() bool { return s.URL == PublishURL }

// Transcoding reports whether the source is decoded and re-encoded.
func (s *Source) Transcoding() bool {
	return s.Transcode == nil || *s.Transcode || s.VisionOn()
}

// EncodesOnDemand reports whether the encoder waits for a reader.
func (s *Source) EncodesOnDemand() bool { return s.OnDemand == nil || *s.OnDemand }

// AudioOn reports whether the source's sound reaches the outputs.
func (s *Source) AudioOn() bool { return s.Audio != AudioOff }

// AudioCodec is the codec the source asks its sound in: "aac", "opus", or
// "" for the camera's own.
func (s *Source) AudioCodec() string {
	if s.Audio == AudioAAC || s.Audio == AudioOpus {
		return s.Audio
	}
	return ""
}

// VisionOn reports whether the source runs a detector.
func (s *Source) VisionOn() bool {
	return s.Vision != nil && s.Vision.Detector != "" && s.Vision.Detector != "none"
}

// Validate checks one source. allowLocal permits file://, v4l2:// and
// lavfi: URLs, and ca_file.
func (s *Source) Validate(allowLocal bool) error {
	return s.validate(sourcePolicy{allowLocal: allowLocal, allowCAFile: allowLocal})
}

// sourcePolicy says what a source's origin may use: config-file sources
// may always name a ca_file; API sources only with api_local_sources.
type sourcePolicy struct {
	allowLocal  bool
	allowCAFile bool
}

// Bounds of a source's numbers.
const (
	minTimeout     = 100 * time.Millisecond
	maxTimeout     = 2 * time.Minute
	minVisionFPS   = 0.01
	maxVisionFPS   = 120
	visionFPSField = "vision.fps"
)

func (s *Source) validate(p sourcePolicy) error {
	if !nameRe.MatchString(s.Name) {
		return fieldErr("name", "must match %s", nameRe)
	}
	u, err := ParseSourceURL(s.URL, p.allowLocal)
	if err != nil {
		return fieldErr("url", "%v", err)
	}
	if s.Transport != "" && !oneOf(s.Transport, transports) {
		return fieldErr("transport", "must be one of %v", transports)
	}
	if s.HWAccel != "" && !oneOf(s.HWAccel, hwAccels) {
		return fieldErr("hwaccel", "must be one of %v", hwAccels)
	}
	if s.Audio != "" && !oneOf(s.Audio, audioModes) {
		return fieldErr("audio", "must be one of %v", audioModes)
	}
	if err := s.Encoder.validate("encoder"); err != nil {
		return err
	}
	if err := s.validateTLS(u, p.allowCAFile); err != nil {
		return err
	}
	return s.validateNumbers()
}

func (s *Source) validateNumbers() error {
	for _, t := range []struct {
		field string
		d     time.Duration
	}{{"connect_timeout", s.ConnectTimeout.D}, {"read_timeout", s.ReadTimeout.D}} {
		if t.d != 0 && (t.d < minTimeout || t.d > maxTimeout) {
			return fieldErr(t.field, "must be between %v and %v (0 takes the default)", minTimeout, maxTimeout)
		}
	}
	// fps is a rate: a tiny one overflows the sampler's interval into
	// "every frame". NaN fails every comparison, so it is refused too.
	if v := s.Vision; v != nil && v.FPS != 0 && !(v.FPS >= minVisionFPS && v.FPS <= maxVisionFPS) {
		return fieldErr(visionFPSField, "must be 0 (the default) or between %g and %d", minVisionFPS, maxVisionFPS)
	}
	return nil
}

// ValidationError names the field that made a config or request invalid.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// prefixErr puts a parent path in front of a ValidationError's field.
func prefixErr(prefix string, err error) error {
	if ve, ok := err.(*ValidationError); ok {
		return &ValidationError{Field: prefix + "." + ve.Field, Reason: ve.Reason}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

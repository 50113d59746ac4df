package config

import (
	"errors"
	"fmt"
	"net/netip"
)

// Source limits.
const (
	defaultMaxSources = 256
	maxMaxSources     = 100000
)

// ErrSourceLimit is wrapped by SourceLimitError.
var ErrSourceLimit = errors.New("source limit reached")

// SourceLimitError refuses a source beyond limits.sources; the API answers
// it with 503.
type SourceLimitError struct{ Max int }

func (e *SourceLimitError) Error() string {
	return fmt.Sprintf("source limit reached (limits.sources: %d)", e.Max)
}

// Unwrap makes errors.Is(err, ErrSourceLimit) hold.
func (e *SourceLimitError) Unwrap() error { return ErrSourceLimit }

// MaxSources is limits.sources with its default; 0 means no limit.
func (c *Config) MaxSources() int {
	switch n := c.Limits.Sources; {
	case n == 0:
		return defaultMaxSources
	case n < 0:
		return 0
	default:
		return n
	}
}

// CheckSourceCount says whether one more source may be added to the n
// that run now.
func (c *Config) CheckSourceCount(n int) error {
	if max := c.MaxSources(); max > 0 && n >= max {
		return &SourceLimitError{Max: max}
	}
	return nil
}

// validatePolicies checks limits.sources, the egress lists and the number
// of sources in the file.
func (c *Config) validatePolicies() error {
	if c.Limits.Sources < -1 || c.Limits.Sources > maxMaxSources {
		return fieldErr("limits.sources", "must be -1 (unlimited), 0 (default %d) or up to %d",
			defaultMaxSources, maxMaxSources)
	}
	if _, err := c.Egress.Policy(); err != nil {
		return err
	}
	if max := c.MaxSources(); max > 0 && len(c.Sources) > max {
		return fieldErr("sources", "%d sources, more than limits.sources (%d)", len(c.Sources), max)
	}
	return nil
}

// ValidateAPISource checks a source given through the API: the source's
// own rules with the API's local-source policy, the egress policy, and the
// models-directory rule. prev is the source it replaces (PATCH), nil for a
// new one: a URL or ca_file it already had passed these checks.
func (c *Config) ValidateAPISource(src, prev *Source) error {
	p := sourcePolicy{allowLocal: c.APILocalSources, allowCAFile: c.APILocalSources}
	if prev != nil {
		p.allowLocal = p.allowLocal || src.URL == prev.URL
		p.allowCAFile = p.allowCAFile || src.CAFile == prev.CAFile
	}
	if err := src.validate(p); err != nil {
		return err
	}
	if prev == nil || src.URL != prev.URL {
		if err := c.checkEgress(src.URL); err != nil {
			return err
		}
	}
	var prevVision *Vision
	if prev != nil {
		prevVision = prev.Vision
	}
	return c.CheckModelFiles(src.Vision, prevVision)
}

func (c *Config) checkEgress(raw string) error {
	u, err := ParseSourceURL(raw, true)
	if err != nil || u.Kind != KindNetwork {
		return nil // refused or allowed by the local-source rules
	}
	policy, err := c.Egress.Policy()
	if err != nil {
		return err
	}
	if err := policy.CheckURL(raw); err != nil {
		return fieldErr("url", "%v", err)
	}
	return nil
}

// SourceInput returns how to open a validated, resolved source: its URL's
// SourceURL with the source's TLS options and, for sources from the API,
// the egress policy for the connect-time check.
func (c *Config) SourceInput(s Source, fromAPI bool) (*SourceURL, error) {
	u, err := ParseSourceURL(s.URL, true)
	if err != nil {
		return nil, err
	}
	opts := map[string]string{}
	for k, v := range u.Options {
		opts[k] = v
	}
	for k, v := range s.tlsOptions(u) {
		opts[k] = v
	}
	if fromAPI && u.Kind == KindNetwork {
		if u.Egress, err = c.Egress.Policy(); err != nil {
			return nil, err
		}
		if u.Egress != nil && (u.Scheme == "http" || u.Scheme == "https") {
			opts["max_redirects"] = "0" // a redirect would skip the check
		}
	}
	if len(opts) > 0 {
		u.Options = opts
	}
	return u, nil
}

// HostPolicy is the connect-time check for transcode.InputOptions.Egress;
// nil when no policy applies.
func (u *SourceURL) HostPolicy() interface {
	CheckHost(host string, addrs []netip.Addr) error
} {
	if u.Egress == nil {
		return nil
	}
	return u.Egress
}

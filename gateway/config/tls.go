package config

import (
	"os"
	"path/filepath"
	"strings"
)

// tlsSchemes are the source schemes that run over TLS.
var tlsSchemes = []string{"https", "rtsps", "rtmps"}

// TLSVerifyOn reports whether the source's TLS certificate is verified
// (the default).
func (s *Source) TLSVerifyOn() bool { return s.TLSVerify == nil || *s.TLSVerify }

func (s *Source) validateTLS(u *SourceURL, allowCAFile bool) error {
	isTLS := u.Kind == KindNetwork && oneOf(u.Scheme, tlsSchemes)
	switch {
	case s.TLSVerify != nil && !isTLS:
		return fieldErr("tls_verify", "applies to https, rtsps and rtmps URLs only")
	case s.CAFile == "":
		return nil
	case !isTLS:
		return fieldErr("ca_file", "applies to https, rtsps and rtmps URLs only")
	case !allowCAFile:
		return fieldErr("ca_file", "can only be set in the config file (or with api_local_sources)")
	case !s.TLSVerifyOn():
		return fieldErr("ca_file", "has no use with tls_verify: false")
	case !filepath.IsAbs(s.CAFile) || filepath.Clean(s.CAFile) != s.CAFile ||
		strings.ContainsAny(s.CAFile, "\x00\r\n"):
		return fieldErr("ca_file", "must be an absolute, clean path")
	}
	st, err := os.Stat(s.CAFile)
	if err != nil {
		return fieldErr("ca_file", "%v", unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return fieldErr("ca_file", "must be a regular file (PEM certificates)")
	}
	return nil
}

// tlsOptions are the libav options that carry a source's TLS settings:
// tls_verify and ca_file are the tls protocol's own (https and rtmps hand
// them down to it; transcode checks rtsps itself, as libav cannot).
func (s *Source) tlsOptions(u *SourceURL) map[string]string {
	if u.Kind != KindNetwork || !oneOf(u.Scheme, tlsSchemes) {
		return nil
	}
	if !s.TLSVerifyOn() {
		return map[string]string{"tls_verify": "0"}
	}
	o := map[string]string{"tls_verify": "1"}
	if s.CAFile != "" {
		o["ca_file"] = s.CAFile
	}
	return o
}

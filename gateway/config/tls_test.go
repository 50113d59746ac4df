package config

import (
	"os"
	"path/filepath"
	"testing"
)

func boolPtr(b bool) *bool { return &b }

// Issue 13 item 3: tls_verify and ca_file, where they apply and who may
// set ca_file.
func TestTLSFieldsValidation(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		src    Source
		api    bool // through the API without api_local_sources
		field  string
		config string // field in a config file, "" when valid there
	}{
		{"verify off", Source{URL: "https://cam/s.m3u8", TLSVerify: boolPtr(false)}, true, "", ""},
		{"verify on rtsps", Source{URL: "rtsps://cam/s", TLSVerify: boolPtr(true)}, true, "", ""},
		{"verify on plain rtsp", Source{URL: "rtsp://cam/s", TLSVerify: boolPtr(false)}, true, "tls_verify", "tls_verify"},
		{"ca_file from the API", Source{URL: "rtmps://cam/app/s", CAFile: ca}, true, "ca_file", ""},
		{"ca_file in the config", Source{URL: "rtmps://cam/app/s", CAFile: ca}, false, "", ""},
		{"ca_file relative", Source{URL: "https://cam/s", CAFile: "ca.pem"}, false, "ca_file", "ca_file"},
		{"ca_file missing", Source{URL: "https://cam/s", CAFile: ca + ".gone"}, false, "ca_file", "ca_file"},
		{"ca_file a directory", Source{URL: "https://cam/s", CAFile: filepath.Dir(ca)}, false, "ca_file", "ca_file"},
		{"ca_file without verify", Source{URL: "https://cam/s", CAFile: ca, TLSVerify: boolPtr(false)}, false, "ca_file", "ca_file"},
		{"ca_file on http", Source{URL: "http://cam/s", CAFile: ca}, false, "ca_file", "ca_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.src.Name = "cam"
			if c.api {
				wantField(t, (&Config{}).ValidateAPISource(&c.src, nil), c.field)
				return
			}
			cfg := &Config{Sources: []Source{c.src}}
			cfg.fillDefaults()
			want := c.field
			if want != "" {
				want = "sources[0]." + want
			}
			wantField(t, cfg.Validate(), want)
		})
	}
	// api_local_sources lets the API name a ca_file.
	c := &Config{APILocalSources: true}
	wantField(t, c.ValidateAPISource(&Source{Name: "cam", URL: "https://cam/s", CAFile: ca}, nil), "")
	// A PATCH that keeps the URL may not add a ca_file.
	prev := &Source{Name: "cam", URL: "https://cam/s"}
	next := &Source{Name: "cam", URL: "https://cam/s", CAFile: ca}
	wantField(t, (&Config{}).ValidateAPISource(next, prev), "ca_file")
}

// The fields become the tls protocol's options: verification is on unless
// the source turns it off.
func TestSourceInputTLSOptions(t *testing.T) {
	c := &Config{}
	cases := []struct {
		src  Source
		want map[string]string
	}{
		{Source{URL: "https://cam/s"}, map[string]string{"tls_verify": "1"}},
		{Source{URL: "rtsps://cam/s", CAFile: "/etc/cam-ca.pem"}, map[string]string{"tls_verify": "1", "ca_file": "/etc/cam-ca.pem"}},
		{Source{URL: "rtmps://cam/a/s", TLSVerify: boolPtr(false)}, map[string]string{"tls_verify": "0"}},
		{Source{URL: "rtsp://cam/s"}, nil},
	}
	for _, tc := range cases {
		u, err := c.SourceInput(tc.src, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Options) != len(tc.want) {
			t.Fatalf("%s: options %v, want %v", tc.src.URL, u.Options, tc.want)
		}
		for k, v := range tc.want {
			if u.Options[k] != v {
				t.Fatalf("%s: options %v, want %v", tc.src.URL, u.Options, tc.want)
			}
		}
	}
}

package mqtt

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidate(t *testing.T) {
	ok := Options{URL: "tcp://broker:1883"}
	tests := []struct {
		name  string
		mod   func(o *Options)
		field string // "" when valid
	}{
		{"defaults", func(o *Options) {}, ""},
		{"mqtt scheme no port", func(o *Options) { o.URL = "mqtt://broker" }, ""},
		{"tls schemes", func(o *Options) { o.URL = "mqtts://broker" }, ""},
		{"ssl", func(o *Options) { o.URL = "SSL://broker:8883/" }, ""},
		{"ipv6", func(o *Options) { o.URL = "tcp://[::1]:1883" }, ""},
		{"url userinfo", func(o *Options) { o.URL = "tcp://u:p@broker" }, ""},
		{"nested prefix", func(o *Options) { o.TopicPrefix = "home/vision" }, ""},
		{"empty url", func(o *Options) { o.URL = "" }, "url"},
		{"no scheme", func(o *Options) { o.URL = "broker:1883" }, "url"},
		{"ws", func(o *Options) { o.URL = "ws://broker" }, "url"},
		{"http", func(o *Options) { o.URL = "http://broker" }, "url"},
		{"no host", func(o *Options) { o.URL = "tcp://:1883" }, "url"},
		{"bad port", func(o *Options) { o.URL = "tcp://broker:0" }, "url"},
		{"big port", func(o *Options) { o.URL = "tcp://broker:70000" }, "url"},
		{"path", func(o *Options) { o.URL = "tcp://broker/x" }, "url"},
		{"query", func(o *Options) { o.URL = "tcp://broker?a=b" }, "url"},
		{"unparsable", func(o *Options) { o.URL = "tcp://u:p%zz@broker" }, "url"},
		{"creds twice", func(o *Options) { o.URL = "tcp://u:p@broker"; o.Username = "v" }, "url"},
		{"prefix plus", func(o *Options) { o.TopicPrefix = "a/+/b" }, "topic_prefix"},
		{"prefix hash", func(o *Options) { o.TopicPrefix = "a#" }, "topic_prefix"},
		{"prefix leading slash", func(o *Options) { o.TopicPrefix = "/a" }, "topic_prefix"},
		{"prefix trailing slash", func(o *Options) { o.TopicPrefix = "a/" }, "topic_prefix"},
		{"prefix empty level", func(o *Options) { o.TopicPrefix = "a//b" }, "topic_prefix"},
		{"prefix dollar", func(o *Options) { o.TopicPrefix = "$SYS" }, "topic_prefix"},
		{"prefix NUL", func(o *Options) { o.TopicPrefix = "a\x00" }, "topic_prefix"},
		{"prefix bad utf8", func(o *Options) { o.TopicPrefix = "a\xff" }, "topic_prefix"},
		{"discovery wildcard", func(o *Options) { o.DiscoveryPrefix = "ha/#" }, "discovery_prefix"},
		{"username NUL", func(o *Options) { o.Username = "a\x00" }, "username"},
		{"client id bad utf8", func(o *Options) { o.ClientID = "\xff" }, "client_id"},
		{"negative queue", func(o *Options) { o.QueueSize = -1 }, "queue_size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			err := o.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("Validate() = %v, want *ConfigError for %q", err, tc.field)
			}
		})
	}
}

// A URL error must not quote the URL: it may hold a password.
func TestValidateHidesCredentials(t *testing.T) {
	for _, u := range []string{"tcp://user:hunter2@broker/path", "ws://user:hunter2@broker", "tcp://user:hunter2%zz@broker"} {
		err := Options{URL: u}.Validate()
		if err == nil {
			t.Fatalf("Validate(%q) = nil, want an error", u)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "user") {
			t.Errorf("error %q reveals the credentials", err)
		}
	}
}

func TestParseBrokerURL(t *testing.T) {
	tests := []struct{ in, want, user, pass string }{
		{"tcp://broker", "tcp://broker:1883", "", ""},
		{"MQTT://broker:1884", "mqtt://broker:1884", "", ""},
		{"mqtts://broker", "mqtts://broker:8883", "", ""},
		{"tls://u:p%40ss@broker:8884/", "tls://broker:8884", "u", "p@ss"},
	}
	for _, tc := range tests {
		b, err := parseBrokerURL(tc.in)
		if err != nil {
			t.Fatalf("parseBrokerURL(%q): %v", tc.in, err)
		}
		if got := b.url.String(); got != tc.want || b.user != tc.user || b.password != tc.pass {
			t.Errorf("parseBrokerURL(%q) = %s user %q pass %q, want %s %q %q", tc.in, got, b.user, b.password, tc.want, tc.user, tc.pass)
		}
	}
}

var topicLevelCases = []struct{ in, want string }{
	{"person", "person"},
	{"traffic light", "traffic_light"},
	{"front-door_2", "front-door_2"},
	{"a/b", "a_b"},
	{"+", "_"},
	{"#", "_"},
	{"", "_"},
	{"café", "caf_"},
	{"a\x00b", "a_b"},
	{"\xff\xfe", "__"},
	{"$SYS", "_SYS"},
	{"日本", "__"},
}

func TestTopicLevel(t *testing.T) {
	for _, tc := range topicLevelCases {
		if got := TopicLevel(tc.in); got != tc.want {
			t.Errorf("TopicLevel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestZoneLevel(t *testing.T) {
	if got := zoneLevel("all"); got == allLevel {
		t.Errorf("zone %q got level %q: it would overwrite the all-objects count", "all", got)
	}
	if got := zoneLevel("door 1"); got != "door_1" {
		t.Errorf("zoneLevel(door 1) = %q", got)
	}
}

func FuzzTopicLevel(f *testing.F) {
	for _, tc := range topicLevelCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := TopicLevel(s)
		if got == "" {
			t.Fatalf("TopicLevel(%q) is empty", s)
		}
		if strings.ContainsAny(got, "+#/\x00") || !utf8.ValidString(got) {
			t.Fatalf("TopicLevel(%q) = %q: not one clean topic level", s, got)
		}
		if TopicLevel(got) != got {
			t.Fatalf("TopicLevel is not idempotent on %q", got)
		}
		if utf8.ValidString(s) && utf8.RuneCountInString(got) != max(1, utf8.RuneCountInString(s)) {
			t.Fatalf("TopicLevel(%q) = %q: one character per character expected", s, got)
		}
	})
}

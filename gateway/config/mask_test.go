package config

import (
	"net/url"
	"strings"
	"testing"
)

var maskCases = []struct{ in, want string }{
	{"rtsp://admin:secret@10.0.0.1/stream", "rtsp://xxxxx:xxxxx@10.0.0.1/stream"},
	{"rtsp://10.0.0.1/stream", "rtsp://10.0.0.1/stream"},
	{"lavfi:testsrc2", "lavfi:testsrc2"},
	// issue 13: credentials in the query
	{"rtsp://10.0.0.1/cam?user=admin&pwd=hunter2", "rtsp://10.0.0.1/cam?user=xxxxx&pwd=xxxxx"},
	{"http://cam/video.cgi?channel=1&USER=admin&PassWord=hunter2&subtype=0",
		"http://cam/video.cgi?channel=1&USER=xxxxx&PassWord=xxxxx&subtype=0"},
	{"https://h/live.m3u8?token=abc123&x=1", "https://h/live.m3u8?token=xxxxx&x=1"},
	{"https://h/s?api_key=k1&apikey=k2&key=k3&access_token=k4&signature=k5&sig=k6&secret=k7&auth=k8&passwd=k9&pass=k10&username=k11",
		"https://h/s?api_key=xxxxx&apikey=xxxxx&key=xxxxx&access_token=xxxxx&signature=xxxxx&sig=xxxxx&secret=xxxxx&auth=xxxxx&passwd=xxxxx&pass=xxxxx&username=xxxxx"},
	{"https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=AKIA1&X-Amz-Signature=f00d&X-Amz-Security-Token=t0k",
		"https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=xxxxx&X-Amz-Signature=xxxxx&X-Amz-Security-Token=xxxxx"},
	{"https://h/s?auth_token=a&private-token=b&client_secret=c&admin_password=d",
		"https://h/s?auth_token=xxxxx&private-token=xxxxx&client_secret=xxxxx&admin_password=xxxxx"},
	{"https://h/s?%70wd=s3cr3t", "https://h/s?%70wd=xxxxx"},
	{"https://h/s?a=1;pwd=s3cr3t", "https://h/s?a=1;pwd=xxxxx"},
	{"srt://h:9000?streamid=%23!::u=alice,r=cam&passphrase=0123456789ab",
		"srt://h:9000?streamid=xxxxx&passphrase=xxxxx"},
	// issue 13: a token used as the user name, alone or with credential parameters
	{"rtmp://tok_9f8e7d6c@live.example/app/stream", "rtmp://xxxxx@live.example/app/stream"},
	{"rtsp://admin:pw@10.0.0.1/s?token=t1", "rtsp://xxxxx:xxxxx@10.0.0.1/s?token=xxxxx"},
	{"https://h/s#access_token=t0k&state=1", "https://h/s#xxxxx"},
	// unparsable URLs: everything before the last @, and the query
	{"rtsp://u:p/w@h:x/s?pwd=q", "rtsp://xxxxx@h:x/s?pwd=xxxxx"},
	{"rtsp://h:bad/s?token=abc", "rtsp://h:bad/s?token=xxxxx"},
	{"rtsp://h:bad/s#token=abc", "rtsp://h:bad/s#token=xxxxx"},
	{"rtsp://h/s?keyint=2&passthrough=1", "rtsp://h/s?keyint=2&passthrough=xxxxx"},
}

func TestMaskURLCredentials(t *testing.T) {
	for _, c := range maskCases {
		if got := MaskURL(c.in); got != c.want {
			t.Errorf("MaskURL(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}

// knownSecrets returns the values of the input's credential parameters
// by the list (the oracle does not share MaskURL's matching), and
// the input with those values cut out: a secret that is also found there
// (a host, a path, another parameter's value) may legitimately stay.
func knownSecrets(raw string) (secrets []string, rest string) {
	known := []string{"user", "username", "pass", "password", "passwd", "pwd", "token", "auth",
		"key", "apikey", "api_key", "access_token", "signature", "sig", "secret"}
	head, query, ok := strings.Cut(raw, "?")
	if !ok {
		return nil, raw
	}
	var kept []string
	for _, kv := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' || r == '#' }) {
		k, v, ok := strings.Cut(kv, "=")
		dk := k
		if u, err := url.QueryUnescape(k); err == nil {
			dk = u
		}
		credential := false
		for _, name := range known {
			if ok && strings.EqualFold(strings.TrimLeft(strings.TrimSpace(dk), "?"), name) {
				credential = true
			}
		}
		if credential {
			secrets = append(secrets, v)
			kv = k + "="
		}
		kept = append(kept, kv)
	}
	return secrets, head + "?" + strings.Join(kept, "&")
}

// FuzzMaskURL: MaskURL never panics, and no value of a known credential
// parameter survives, unless the same text is elsewhere in the URL (a
// host name, a path) or is part of the mask itself.
func FuzzMaskURL(f *testing.F) {
	for _, c := range maskCases {
		f.Add(c.in)
	}
	for _, c := range urlCases {
		f.Add(c.url)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := MaskURL(raw)
		secrets, rest := knownSecrets(raw)
		for _, s := range secrets {
			if len(s) < 3 || strings.Contains(masked, s) || strings.Contains(rest, s) {
				continue
			}
			if strings.Contains(out, s) {
				t.Fatalf("MaskURL(%q) = %q keeps %q", raw, out, s)
			}
		}
	})
}

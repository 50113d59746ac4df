package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigRunsTheDemo(t *testing.T) {
	c := Default()
	if len(c.Sources) != 1 || c.Sources[0].Name != "demo" {
		t.Fatalf("sources = %+v, want one demo source", c.Sources)
	}
	if c.HTTP != ":8080" || c.RTSP != ":8554" || c.Encoder.Codec != EncoderX264 || c.Encoder.Keyint.D.Seconds() != 1 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		name, yaml, wantErr string
		sources             int
	}{
		{"empty file uses defaults", "", "", 0},
		{"empty source list", "sources: []\n", "", 0},
		{"network source", "sources:\n  - name: cam1\n    url: rtsp://user:pw@10.0.0.2/stream\n", "", 1},
		{"unknown key", "bogus: 1\n", "field bogus not found", 0},
		{"unknown source key", "sources:\n  - name: a\n    url: rtsp://h/x\n    colour: red\n", "field colour not found", 0},
		{"local source refused by default", "sources:\n  - name: f\n    url: file:///tmp/a.mp4\n", "sources[0].url", 0},
		{"local source allowed", "allow_local_sources: true\nsources:\n  - name: f\n    url: file:///tmp/a.mp4\n", "", 1},
		{"duplicate names", "sources:\n  - {name: a, url: 'rtsp://h/1'}\n  - {name: a, url: 'rtsp://h/2'}\n", "sources[1].name", 0},
		{"bad hwaccel", "hwaccel: gpu\n", "hwaccel", 0},
		{"bad encoder preset", "encoder: {preset: ludicrous}\n", "encoder.preset", 0},
		{"bad keyint", "encoder: {keyint: 2h}\n", "encoder.keyint", 0},
		{"bad duration", "sources:\n  - {name: a, url: 'rtsp://h/1', read_timeout: soon}\n", "invalid duration", 0},
		{"odd width", "encoder: {width: 641}\n", "encoder.width", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.yaml))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want mention of %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Sources) != c.sources {
				t.Fatalf("%d sources, want %d", len(cfg.Sources), c.sources)
			}
		})
	}
}

func TestSourceValidateNamesTheField(t *testing.T) {
	ok := Source{Name: "cam_1-A", URL: "rtsp://cam.local:554/h264"}
	cases := []struct {
		name  string
		edit  func(*Source)
		field string
	}{
		{"valid", func(*Source) {}, ""},
		{"empty name", func(s *Source) { s.Name = "" }, "name"},
		{"name with slash", func(s *Source) { s.Name = "a/b" }, "name"},
		{"name with dots", func(s *Source) { s.Name = ".." }, "name"},
		{"long name", func(s *Source) { s.Name = strings.Repeat("a", 65) }, "name"},
		{"no url", func(s *Source) { s.URL = "" }, "url"},
		{"bad transport", func(s *Source) { s.Transport = "sctp" }, "transport"},
		{"bad hwaccel", func(s *Source) { s.HWAccel = "metal" }, "hwaccel"},
		{"bad crf", func(s *Source) { s.Encoder.CRF = 99 }, "encoder.crf"},
		{"bad codec", func(s *Source) { s.Encoder.Codec = "vp9" }, "encoder.codec"},
		{"bad vision fps", func(s *Source) { s.Vision = &Vision{Detector: "people", FPS: -1} }, "vision.fps"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := ok
			c.edit(&s)
			err := s.Validate(false)
			var ve *ValidationError
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.field != "" && !errors.As(err, &ve):
				t.Fatalf("err = %v, want a ValidationError", err)
			case c.field != "" && ve.Field != c.field:
				t.Fatalf("field = %q, want %q", ve.Field, c.field)
			}
		})
	}
}

var urlCases = []struct {
	url        string
	allowLocal bool
	wantErr    error
	kind       SourceKind
	whitelist  string
}{
	{"rtsp://user:pw@10.1.2.3:554/Streaming/101", false, nil, KindNetwork, "rtsp,rtp,srtp,udp,tcp"},
	{"rtsps://cam/x", false, nil, KindNetwork, "rtsp,rtsps,rtp,srtp,udp,tcp,tls"},
	{"RTMP://host/live/key", false, nil, KindNetwork, "rtmp,tcp"},
	{"https://host/live/index.m3u8", false, nil, KindNetwork, "http,https,tcp,tls,crypto,httpproxy"},
	{"srt://host:9000?mode=caller", false, nil, KindNetwork, "srt"},
	{"udp://239.0.0.1:1234", false, nil, KindNetwork, "udp"},
	{"file:///srv/video/a.mp4", false, ErrURLLocal, 0, ""},
	{"file:///srv/video/a.mp4", true, nil, KindFile, "file"},
	{"file:///srv/../etc/passwd", true, ErrURLForm, 0, ""},
	{"file://remote/srv/a.mp4", true, ErrURLForm, 0, ""},
	{"v4l2:///dev/video0?size=1280x720&fps=30", true, nil, KindV4L2, "file"},
	{"v4l2:///etc/passwd", true, ErrURLForm, 0, ""},
	{"v4l2:///dev/video0?size=big", true, ErrURLOption, 0, ""},
	{"v4l2:///dev/video0", false, ErrURLLocal, 0, ""},
	{"lavfi:testsrc2=size=640x360:rate=25", true, nil, KindLavfi, "none"},
	{"lavfi:movie=/etc/passwd", true, ErrURLLavfi, 0, ""},
	{"lavfi:testsrc2", false, ErrURLLocal, 0, ""},
	{"concat:/etc/passwd|/etc/shadow", true, ErrURLScheme, 0, ""},
	{"subfile:,,start,0,end,0,:/etc/passwd", true, ErrURLScheme, 0, ""},
	{"data:video/mp4;base64,AAAA", true, ErrURLScheme, 0, ""},
	{"/etc/passwd", true, ErrURLScheme, 0, ""},
	{"gopher://host/", false, ErrURLScheme, 0, ""},
	{"rtsp:///nohost", false, ErrURLForm, 0, ""},
	{"rtsp://host/with space", false, ErrURLForm, 0, ""},
	{"", false, ErrURLForm, 0, ""},
}

func TestParseSourceURL(t *testing.T) {
	for _, c := range urlCases {
		t.Run(c.url, func(t *testing.T) {
			u, err := ParseSourceURL(c.url, c.allowLocal)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Kind != c.kind || u.Whitelist != c.whitelist {
				t.Fatalf("got kind %d whitelist %q, want %d %q", u.Kind, u.Whitelist, c.kind, c.whitelist)
			}
		})
	}
}

func FuzzParseSourceURL(f *testing.F) {
	for _, c := range urlCases {
		f.Add(c.url, c.allowLocal)
	}
	for _, c := range lavfiCases {
		f.Add("lavfi:"+c.graph, true)
	}
	for _, c := range optionCases {
		f.Add(c.url, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowLocal bool) {
		u, err := ParseSourceURL(raw, allowLocal)
		if err != nil {
			return
		}
		if u.Whitelist == "" || strings.Contains(u.Whitelist, "concat") || strings.Contains(u.Whitelist, "data") {
			t.Fatalf("%q: whitelist %q", raw, u.Whitelist)
		}
		if !allowLocal && u.Kind != KindNetwork {
			t.Fatalf("%q: local kind %d accepted without allowLocal", raw, u.Kind)
		}
		if u.Kind == KindNetwork && strings.Contains(u.Whitelist, "file") {
			t.Fatalf("%q: network input may open files", raw)
		}
		// One synthetic source filter, no option naming a file.
		if u.Kind == KindLavfi && (strings.ContainsAny(u.Input, ",;[]'\\") || strings.Contains(u.Input, "file") ||
			strings.Contains(u.Input, "movie") || strings.Contains(u.Input, "=/")) {
			t.Fatalf("%q: lavfi graph %q accepted", raw, u.Input)
		}
		// udp and srt options are libav's: never a bind address or port.
		if _, query, _ := strings.Cut(raw, "?"); u.Kind == KindNetwork && (u.Scheme == "udp" || u.Scheme == "srt") {
			for _, kv := range strings.Split(query, "&") {
				if k, v, _ := strings.Cut(kv, "="); k == "localaddr" || k == "localport" || (k == "mode" && v != "caller") {
					t.Fatalf("%q: bind option accepted", raw)
				}
			}
		}
	})
}

func TestMaskURL(t *testing.T) {
	cases := map[string]string{
		"rtsp://admin:secret@10.0.0.1/stream": "rtsp://xxxxx:xxxxx@10.0.0.1/stream",
		"rtsp://admin@10.0.0.1/stream":        "rtsp://xxxxx@10.0.0.1/stream", // a lone user name may be a token
		"rtsp://10.0.0.1/stream":              "rtsp://10.0.0.1/stream",
		"lavfi:testsrc2":                      "lavfi:testsrc2",
	}
	for in, want := range cases {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveFillsDefaults(t *testing.T) {
	c := Default()
	s := c.Resolve(Source{Name: "a", URL: "rtsp://h/x", Encoder: Encoder{CRF: 30}})
	if s.HWAccel != HWAccelAuto || s.Transport != TransportAuto || !s.Transcoding() ||
		s.Encoder.CRF != 30 || s.Encoder.Preset != "veryfast" || s.ReadTimeout.D == 0 {
		t.Fatalf("resolved = %+v", s)
	}
}

// Tracking, zones and lines read from YAML as the README shows them.
func TestVisionTrackingFromYAML(t *testing.T) {
	c, err := Parse([]byte(`
allow_local_sources: true
sources:
  - name: door
    url: "lavfi:testsrc2"
    vision:
      detector: people
      tracker: {enabled: false, max_age: 3s, min_hits: 3, iou: 0.4, high_score: 0.6}
      zones: [{name: porch, polygon: [[0, 0], [100, 0], [100, 50.5]], labels: [person], min_frames: 2}]
      lines: [{name: gate, from: [10, 20], to: [30, 40]}]
      update_interval: 2s
`))
	if err != nil {
		t.Fatal(err)
	}
	v := c.Sources[0].Vision
	tr := v.Tracker
	if v.TrackerOn() || tr.MaxAge.D != 3*time.Second || tr.MinHits != 3 || tr.IoU != 0.4 || tr.HighScore != 0.6 {
		t.Errorf("tracker %+v", tr)
	}
	z := v.Zones[0]
	if z.Name != "porch" || len(z.Polygon) != 3 || z.Polygon[2] != [2]float64{100, 50.5} || z.Labels[0] != "person" || z.MinFrames != 2 {
		t.Errorf("zone %+v", z)
	}
	if l := v.Lines[0]; l.From != [2]float64{10, 20} || l.To != [2]float64{30, 40} || v.UpdateInterval.D != 2*time.Second {
		t.Errorf("line %+v, update interval %v", l, v.UpdateInterval)
	}
	if (&Vision{}).TrackerOn() != true {
		t.Error("the tracker is not on by default")
	}
}

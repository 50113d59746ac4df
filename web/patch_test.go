package web

import (
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/manager"
)

func TestPatchSourceErrors(t *testing.T) {
	cases := []struct {
		name, path, body, ctype string
		code                    int
		field                   string
	}{
		{"unknown source", "/api/v1/sources/nope", `{"url":"rtsp://h/s"}`, "", 404, ""},
		{"bad path name", "/api/v1/sources/a.b", `{"url":"rtsp://h/s"}`, "", 400, "name"},
		{"bad url", "/api/v1/sources/cam0", `{"url":"gopher://h/s"}`, "", 400, "url"},
		{"file url", "/api/v1/sources/cam0", `{"url":"file:///etc/passwd"}`, "", 400, "url"},
		{"bad crf", "/api/v1/sources/cam0", `{"encoder":{"crf":99}}`, "", 400, "encoder.crf"},
		{"unknown field", "/api/v1/sources/cam0", `{"bogus":true}`, "", 400, "bogus"},
		{"unknown nested", "/api/v1/sources/cam0", `{"vision":{"modle":"x"}}`, "", 400, "vision.modle"},
		{"wrong type", "/api/v1/sources/cam0", `{"transcode":"yes"}`, "", 400, "transcode"},
		{"rename", "/api/v1/sources/cam0", `{"name":"cam9"}`, "", 400, "name"},
		{"null name", "/api/v1/sources/cam0", `{"name":null}`, "", 400, "name"},
		{"array", "/api/v1/sources/cam0", `[]`, "", 400, ""},
		{"null", "/api/v1/sources/cam0", `null`, "", 400, ""},
		{"invalid json", "/api/v1/sources/cam0", `{"url":`, "", 400, ""},
		{"trailing garbage", "/api/v1/sources/cam0", `{}]`, "", 400, ""},
		{"text/plain", "/api/v1/sources/cam0", `{}`, "text/plain", 415, ""},
		{"huge", "/api/v1/sources/cam0", `{"url":"` + strings.Repeat("a", 70<<10) + `"}`, "", 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewRouter(Options{Sources: newFake("cam0")})
			rec := serve(t, h, "PATCH", tc.path, tc.body, tc.ctype)
			wantError(t, rec, tc.code, tc.field)
			if strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("response leaks a password: %s", rec.Body)
			}
		})
	}
}

// Merge-patch semantics: present fields replace, objects merge, null
// removes, absent fields stay.
func TestPatchSourceMerge(t *testing.T) {
	h := NewRouter(Options{Sources: newFake("cam0")})
	steps := []struct {
		body, ctype string
		check       func(manager.Status) bool
	}{
		{`{"url":"rtsp://new.example/s"}`, "", func(s manager.Status) bool {
			return s.Source.URL == "rtsp://new.example/s" && s.Source.Vision.Detector == "people"
		}},
		{`{"vision":{"fps":2}}`, "application/merge-patch+json", func(s manager.Status) bool {
			return s.Source.Vision.FPS == 2 && s.Source.Vision.Detector == "people"
		}},
		{`{"name":"cam0","connect_timeout":"3s","encoder":{"crf":30}}`, "", func(s manager.Status) bool {
			return s.Source.ConnectTimeout.D == 3*time.Second && s.Source.Encoder.CRF == 30
		}},
		{`{"vision":null,"connect_timeout":null}`, "", func(s manager.Status) bool {
			return s.Source.Vision == nil && s.Source.ConnectTimeout.D == 0 && s.Source.Encoder.CRF == 30
		}},
		{`{}`, "application/json; charset=utf-8", func(s manager.Status) bool {
			return s.Source.URL == "rtsp://new.example/s"
		}},
	}
	for i, st := range steps {
		rec := serve(t, h, "PATCH", "/api/v1/sources/cam0", st.body, st.ctype)
		var got manager.Status
		decodeJSON(t, rec, &got)
		if rec.Code != 200 || !st.check(got) {
			t.Fatalf("step %d %s: %d %s", i, st.body, rec.Code, rec.Body)
		}
		rec = serve(t, h, "GET", "/api/v1/sources/cam0", "", "")
		got = manager.Status{}
		decodeJSON(t, rec, &got)
		if !st.check(got) {
			t.Fatalf("step %d: GET after PATCH: %s", i, rec.Body)
		}
	}
}

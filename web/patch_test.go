package web

import (
	"cmp"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/gateway/config"
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

// patchRecorder keeps the patches the API hands to Update and answers with
// a fixed status.
type patchRecorder struct {
	*fakeSources
	names   []string
	patches []json.RawMessage
	reply   api.Status
}

func (r *patchRecorder) Update(name string, patch json.RawMessage) (api.Status, error) {
	r.names = append(r.names, name)
	r.patches = append(r.patches, append(json.RawMessage(nil), patch...))
	return r.reply, nil
}

// TestPatchSourceHandsPatchToManager: what the API does with an accepted
// PATCH. It hands the body to the manager as it came, null members
// included (they mean "remove"; decoding into a struct would lose them),
// with either JSON content type, and answers 200 with the manager's status.
// The merge itself is the manager's (gateway/manager/patch_test.go).
func TestPatchSourceHandsPatchToManager(t *testing.T) {
	for _, ctype := range []string{"", "application/merge-patch+json", "application/json; charset=utf-8"} {
		t.Run(cmp.Or(ctype, "default application/json"), func(t *testing.T) {
			src := &patchRecorder{fakeSources: newFake("cam0"), reply: api.Status{Name: "cam0",
				State: api.StateRunning, Source: config.Source{Name: "cam0", URL: "rtsp://reply.example/s"}}}
			h := NewRouter(Options{Sources: src})
			body := `{"name":"cam0", "vision": {"fps": 2, "zones": [{"name": "z", "polygon": [[0,0],[1,0],[1,1]]}]},
				"connect_timeout": null}`
			rec := serve(t, h, "PATCH", "/api/v1/sources/cam0", body, ctype)
			if rec.Code != http.StatusOK {
				t.Fatalf("PATCH = %d %s", rec.Code, rec.Body)
			}
			var got api.Status
			decodeJSON(t, rec, &got)
			if !reflect.DeepEqual(got, src.reply) {
				t.Errorf("answer %s, want the manager's status %+v", rec.Body, src.reply)
			}
			if len(src.patches) != 1 || src.names[0] != "cam0" {
				t.Fatalf("Update called %d times (%v), want once for cam0", len(src.patches), src.names)
			}
			var sent, handed any
			if err := json.Unmarshal([]byte(body), &sent); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(src.patches[0], &handed); err != nil || !reflect.DeepEqual(handed, sent) {
				t.Errorf("manager got patch %s (%v), want the body as sent: %s", src.patches[0], err, body)
			}
		})
	}
}

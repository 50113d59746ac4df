package web

import (
	"encoding/json"
	"github.com/visiongate/visiongate/gateway/config"
	"strings"
	"testing"

	"github.com/visiongate/visiongate/gateway/api"
)

// FuzzCreateSource posts arbitrary bodies: the router must never panic or
// answer 5xx, must always answer JSON, and may only create a source whose
// name is valid.
func FuzzCreateSource(f *testing.F) {
	for _, tc := range createCases {
		if len(tc.body) < 4096 {
			f.Add(tc.body)
		}
	}
	f.Add(`{"name":"cam1","url":"rtsp://h/s","encoder":{"keyint":1e300}}`)
	f.Add(`{"name":"cam1","url":"rtsp://h/s","read_timeout":-1}`)
	f.Add(`{"name":"cam\u0031","url":"rtsp://h/s"}`)
	f.Add(`{"name":"ca\u006d1","url":"rtsp://h/s","n\u0061me":"x"}`)
	f.Fuzz(func(t *testing.T, body string) {
		h := NewRouter(Options{Sources: newFake("cam0"), MaxBodyBytes: 2048})
		rec := serve(t, h, "POST", "/api/v1/sources", body, "")
		if rec.Code < 200 || rec.Code >= 500 || (rec.Code >= 300 && rec.Code < 400) {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") ||
			!json.Valid(rec.Body.Bytes()) {
			t.Fatalf("not JSON (%q) for %q: %s", ct, body, rec.Body)
		}
		if rec.Code != 201 {
			return
		}
		var req struct{ Name string }
		var st api.Status
		if err := json.Unmarshal([]byte(body), &req); err != nil || !config.ValidName(req.Name) {
			t.Fatalf("201 for a body with an invalid name: %q", body)
		}
		if json.Unmarshal(rec.Body.Bytes(), &st) != nil || st.Name != req.Name {
			t.Fatalf("201 answered %s for %q", rec.Body, body)
		}
	})
}

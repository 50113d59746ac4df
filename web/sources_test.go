package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/visiongate/visiongate/gateway/api"
)

const validBody = `{"name":"cam1","url":"rtsp://cam.example/stream"}`

// createCase is one POST /api/v1/sources; the fuzz test seeds from them.
type createCase struct {
	name  string
	body  string
	ctype string // "" means application/json, "-" none
	code  int
	field string // expected "field" of a 400
}

var createCases = []createCase{
	{"valid", validBody, "", 201, ""},
	{"valid full", `{"name":"Cam_2-x","url":"srt://10.0.0.2:9000","transport":"tcp","hwaccel":"none",
		"transcode":false,"encoder":{"codec":"libx264","crf":20,"keyint":"2s"},
		"vision":{"detector":"people","fps":5},"connect_timeout":"3s","read_timeout":2}`, "", 201, ""},
	{"valid credentials", `{"name":"cam1","url":"rtsp://admin:secret@cam.example/s"}`, "", 201, ""},
	{"null fields", `{"name":"cam1","url":"rtsp://h/s","vision":null,"connect_timeout":null}`, "", 201, ""},
	{"trailing whitespace", validBody + " \n\t", "", 201, ""},
	{"charset", validBody, "application/json; charset=utf-8", 201, ""},
	{"charset upper", validBody, "Application/JSON; Charset=UTF-8", 201, ""},
	{"bad name", `{"name":"cam 1","url":"rtsp://h/s"}`, "", 400, "name"},
	{"long name", `{"name":"` + strings.Repeat("a", 65) + `","url":"rtsp://h/s"}`, "", 400, "name"},
	{"missing name", `{"url":"rtsp://h/s"}`, "", 400, "name"},
	{"missing url", `{"name":"cam1"}`, "", 400, "url"},
	{"bad scheme", `{"name":"cam1","url":"ftp://h/s"}`, "", 400, "url"},
	{"file url", `{"name":"cam1","url":"file:///etc/passwd"}`, "", 400, "url"},
	{"v4l2 url", `{"name":"cam1","url":"v4l2:///dev/video0"}`, "", 400, "url"},
	{"lavfi url", `{"name":"cam1","url":"lavfi:testsrc2"}`, "", 400, "url"},
	{"url no host", `{"name":"cam1","url":"rtsp:///s"}`, "", 400, "url"},
	{"url bad port", `{"name":"cam1","url":"rtsp://u:secret@h:bad/s"}`, "", 400, "url"},
	{"bad transport", `{"name":"cam1","url":"rtsp://h/s","transport":"quic"}`, "", 400, "transport"},
	{"bad crf", `{"name":"cam1","url":"rtsp://h/s","encoder":{"crf":99}}`, "", 400, "encoder.crf"},
	{"bad vision fps", `{"name":"cam1","url":"rtsp://h/s","vision":{"fps":500}}`, "", 400, "vision.fps"},
	{"unknown field", `{"name":"cam1","url":"rtsp://h/s","bogus":1}`, "", 400, "bogus"},
	{"unknown nested", `{"name":"cam1","url":"rtsp://h/s","vision":{"detector":"x","gpu":1}}`, "", 400, "vision.gpu"},
	{"key case", `{"NAME":"cam1","url":"rtsp://h/s"}`, "", 400, "NAME"},
	{"duplicate key", `{"name":"cam1","url":"rtsp://h/s","name":"cam2"}`, "", 400, "name"},
	{"wrong type", `{"name":"cam1","url":"rtsp://h/s","encoder":{"bitrate":"high"}}`, "", 400, "encoder.bitrate"},
	{"float for int", `{"name":"cam1","url":"rtsp://h/s","encoder":{"crf":1.5}}`, "", 400, "encoder.crf"},
	{"object expected", `{"name":"cam1","url":"rtsp://h/s","vision":"people"}`, "", 400, "vision"},
	{"bad duration", `{"name":"cam1","url":"rtsp://h/s","connect_timeout":"soon"}`, "", 400, "connect_timeout"},
	{"name not string", `{"name":7,"url":"rtsp://h/s"}`, "", 400, "name"},
	{"invalid json", `{"name":"cam1",`, "", 400, ""},
	{"syntax error", `{"name" "cam1"}`, "", 400, ""},
	{"trailing garbage", validBody + "x", "", 400, ""},
	{"trailing object", validBody + "{}", "", 400, ""},
	{"empty body", "", "application/json", 400, ""},
	{"array", `[` + validBody + `]`, "", 400, ""},
	{"null", `null`, "", 400, ""},
	{"string", `"cam1"`, "", 400, ""},
	{"duplicate", `{"name":"cam0","url":"rtsp://h/s"}`, "", 409, ""},
	{"huge", `{"name":"cam1","url":"rtsp://h/` + strings.Repeat("a", 70<<10) + `"}`, "", 413, ""},
	{"text/plain", validBody, "text/plain", 415, ""},
	{"form", validBody, "application/x-www-form-urlencoded", 415, ""},
	{"no content type", validBody, "-", 415, ""},
	{"bad charset", validBody, "application/json; charset=latin1", 415, ""},
	{"malformed content type", validBody, "application/json; charset", 415, ""},
}

func TestCreateSource(t *testing.T) {
	for _, tc := range createCases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewRouter(Options{Sources: newFake("cam0")})
			rec := serve(t, h, "POST", "/api/v1/sources", tc.body, tc.ctype)
			if strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("response leaks a password: %s", rec.Body)
			}
			if tc.code != http.StatusCreated {
				wantError(t, rec, tc.code, tc.field)
				return
			}
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			var st api.Status
			decodeJSON(t, rec, &st)
			if loc := rec.Header().Get("Location"); loc != "/api/v1/sources/"+st.Name {
				t.Errorf("Location %q for %q", loc, st.Name)
			}
			if get := serve(t, h, "GET", "/api/v1/sources/"+st.Name, "", ""); get.Code != 200 {
				t.Errorf("GET after create: %d", get.Code)
			}
		})
	}
}

// A body without a known length is cut at the limit too.
func TestCreateSourceChunkedTooLarge(t *testing.T) {
	h := NewRouter(Options{Sources: newFake(), MaxBodyBytes: 100})
	body := `{"name":"cam1","url":"rtsp://h/` + strings.Repeat("a", 200) + `"}`
	req := httptest.NewRequest("POST", "/api/v1/sources", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	wantError(t, rec, 413, "")

	// Trailing whitespace past the limit counts as well.
	rec = serve(t, h, "POST", "/api/v1/sources", `{"name":"c"}`+strings.Repeat(" ", 200), "")
	wantError(t, rec, 413, "")
}

func TestListSources(t *testing.T) {
	rec := serve(t, NewRouter(Options{Sources: newFake()}), "GET", "/api/v1/sources", "", "")
	if rec.Code != 200 || rec.Body.String() != `{"sources":[]}` {
		t.Fatalf("empty list: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, NewRouter(Options{Sources: newFake("b", "a")}), "GET", "/api/v1/sources", "", "")
	var out struct{ Sources []api.Status }
	decodeJSON(t, rec, &out)
	if rec.Code != 200 || len(out.Sources) != 2 || out.Sources[0].Name != "a" {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("list leaks a password: %s", rec.Body)
	}
}

func TestGetDeleteSource(t *testing.T) {
	h := NewRouter(Options{Sources: newFake("cam0")})
	cases := []struct {
		method, path string
		code         int
		field        string
	}{
		{"GET", "/api/v1/sources/cam0", 200, ""},
		{"GET", "/api/v1/sources/nope", 404, ""},
		{"GET", "/api/v1/sources/a%20b", 400, "name"},
		{"GET", "/api/v1/sources/a.b", 400, "name"},
		{"GET", "/api/v1/sources/" + strings.Repeat("x", 65), 400, "name"},
		{"DELETE", "/api/v1/sources/a.b", 400, "name"},
		{"DELETE", "/api/v1/sources/nope", 404, ""},
		{"DELETE", "/api/v1/sources/cam0", 204, ""},
		{"GET", "/api/v1/sources/cam0", 404, ""},
		{"DELETE", "/api/v1/sources/cam0", 404, ""},
	}
	for _, tc := range cases {
		rec := serve(t, h, tc.method, tc.path, "", "")
		switch tc.code {
		case 200:
			var st api.Status
			decodeJSON(t, rec, &st)
			if rec.Code != 200 || st.Name != "cam0" || st.Source.URL != "rtsp://xxxxx:xxxxx@cam.example/cam0" {
				t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
			}
		case 204:
			if rec.Code != 204 || rec.Body.Len() != 0 {
				t.Errorf("%s %s: %d %q", tc.method, tc.path, rec.Code, rec.Body)
			}
		default:
			wantError(t, rec, tc.code, tc.field)
		}
	}
}

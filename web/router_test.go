package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/gateway/config"
)

func TestHealthz(t *testing.T) {
	rec := serve(t, NewRouter(Options{Sources: newFake()}), "GET", "/healthz", "", "")
	if rec.Code != 200 || rec.Body.String() != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", rec.Code, rec.Body)
	}
}

func TestMetrics(t *testing.T) {
	rec := serve(t, NewRouter(Options{Sources: newFake()}), "GET", "/metrics", "", "")
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != promContentType ||
		!strings.Contains(body, "\nvisiongate_up 1\n") || !strings.Contains(body, "\ngo_goroutines ") {
		t.Fatalf("fallback metrics: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), body)
	}
	custom := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", promContentType)
		fmt.Fprintln(w, "custom_metric 42")
	})
	rec = serve(t, NewRouter(Options{Sources: newFake(), Metrics: custom}), "GET", "/metrics", "", "")
	if rec.Code != 200 || rec.Body.String() != "custom_metric 42\n" {
		t.Fatalf("custom metrics: %d %s", rec.Code, rec.Body)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := NewRouter(Options{Sources: newFake("cam0")})
	cases := []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/api/v1/sources/", 404, ""},
		{"GET", "/api/v1/sources/cam0/extra", 404, ""},
		{"GET", "/api/v2/sources", 404, ""},
		{"POST", "/healthz", 405, "GET"},
		{"DELETE", "/api/v1/sources", 405, "GET, POST"},
		{"PUT", "/api/v1/sources/cam0", 405, "GET, PATCH, DELETE"},
		{"POST", "/api/v1/sources/cam0", 405, "GET, PATCH, DELETE"},
	}
	for _, tc := range cases {
		rec := serve(t, h, tc.method, tc.path, "", "")
		wantError(t, rec, tc.code, "")
		if got := rec.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
}

func TestExtraRoutes(t *testing.T) {
	h := NewRouter(Options{Sources: newFake(), Extra: func(r *gin.Engine) {
		r.GET("/snapshot/:file", func(c *gin.Context) { c.String(200, "jpeg "+c.Param("file")) })
	}})
	if rec := serve(t, h, "GET", "/snapshot/cam1.jpg", "", ""); rec.Code != 200 || rec.Body.String() != "jpeg cam1.jpg" {
		t.Fatalf("extra route: %d %s", rec.Code, rec.Body)
	}
}

func TestNilSourcesPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewRouter accepted nil Sources")
		}
	}()
	NewRouter(Options{})
}

// brokenSources fails in the ways a real manager might.
type brokenSources struct {
	*fakeSources
	err error
}

func (b brokenSources) List() []api.Status { panic("list exploded at rtsp://u:secret@h/s") }

func (b brokenSources) Add(config.Source) (api.Status, error) { return api.Status{}, b.err }

func TestInternalErrorsAreLoggedMasked(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src := brokenSources{newFake(), errors.New(`open "rtsp://u:secret@h:554/s": refused`)}
	h := NewRouter(Options{Sources: src, Log: log})

	e := wantError(t, serve(t, h, "GET", "/api/v1/sources", "", ""), 500, "")
	if e.Error != "internal error" {
		t.Errorf("panic answer %q", e.Error)
	}
	e = wantError(t, serve(t, h, "POST", "/api/v1/sources", validBody, ""), 500, "")
	if e.Error != "internal error" {
		t.Errorf("error answer %q", e.Error)
	}
	out := logs.String()
	if strings.Contains(out, "secret") || !strings.Contains(out, "xxxxx:xxxxx@h") ||
		!strings.Contains(out, "handler panic") || !strings.Contains(out, "source manager failed") {
		t.Fatalf("logs: %s", out)
	}
}

// Sources may wrap its sentinel errors.
func TestWrappedErrors(t *testing.T) {
	cases := []struct {
		err   error
		code  int
		field string
	}{
		{fmt.Errorf("add cam1: %w", api.ErrExists), 409, ""},
		{fmt.Errorf("add cam1: %w", api.ErrNotFound), 404, ""},
		{fmt.Errorf("add: %w", &config.ValidationError{Field: "url", Reason: "bad rtsp://u:secret@h/"}), 400, "url"},
	}
	for _, tc := range cases {
		h := NewRouter(Options{Sources: brokenSources{newFake(), tc.err}})
		e := wantError(t, serve(t, h, "POST", "/api/v1/sources", validBody, ""), tc.code, tc.field)
		if strings.Contains(e.Error, "secret") {
			t.Errorf("leaked: %s", e.Error)
		}
	}
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"no url here":                          "no url here",
		"open rtsp://h/s failed":               "open rtsp://h/s failed",
		"open rtsp://u:pw@h/s failed":          "open rtsp://xxxxx:xxxxx@h/s failed",
		`parse "rtsp://u:pw@h:x/s": bad port`:  `parse "rtsp://xxxxx@h:x/s": bad port`,
		"a rtmp://a:b@c/d, b srt://e:f@g:1/h.": "a rtmp://xxxxx:xxxxx@c/d, b srt://xxxxx:xxxxx@g:1/h.",
	}
	for in, want := range cases {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

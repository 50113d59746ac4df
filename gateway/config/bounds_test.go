package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// Issue 13 item 7: every number of a source and its encoder is bounded.
func TestSourceNumericBounds(t *testing.T) {
	ok := Source{Name: "cam", URL: "rtsp://cam.local/s"}
	cases := []struct {
		name  string
		edit  func(*Source)
		field string
	}{
		{"defaults", func(*Source) {}, ""},
		{"4096x2160 at 120 fps", func(s *Source) { s.Encoder = Encoder{Width: 4096, Height: 2160, FPS: 120} }, ""},
		{"8192 wide", func(s *Source) { s.Encoder.Width = 8192 }, "encoder.width"},
		{"8192 high", func(s *Source) { s.Encoder.Height = 8192 }, "encoder.height"},
		{"240 fps", func(s *Source) { s.Encoder.FPS = 240 }, "encoder.fps"},
		{"negative fps", func(s *Source) { s.Encoder.FPS = -1 }, "encoder.fps"},
		{"NaN fps", func(s *Source) { s.Encoder.FPS = math.NaN() }, "encoder.fps"},
		{"bitrate", func(s *Source) { s.Encoder.Bitrate = 1 << 30 }, "encoder.bitrate"},
		{"crf", func(s *Source) { s.Encoder.CRF = 52 }, "encoder.crf"},
		{"keyint", func(s *Source) { s.Encoder.Keyint.D = time.Hour }, "encoder.keyint"},
		{"vision fps 1e-300", func(s *Source) { s.Vision = &Vision{Detector: "people", FPS: 1e-300} }, "vision.fps"},
		{"vision fps 0.001", func(s *Source) { s.Vision = &Vision{Detector: "people", FPS: 0.001} }, "vision.fps"},
		{"vision fps NaN", func(s *Source) { s.Vision = &Vision{Detector: "people", FPS: math.NaN()} }, "vision.fps"},
		{"vision fps 0.01", func(s *Source) { s.Vision = &Vision{Detector: "people", FPS: 0.01} }, ""},
		{"vision fps default", func(s *Source) { s.Vision = &Vision{Detector: "people"} }, ""},
		{"connect timeout 1ns", func(s *Source) { s.ConnectTimeout.D = 1 }, "connect_timeout"},
		{"connect timeout 24h", func(s *Source) { s.ConnectTimeout.D = 24 * time.Hour }, "connect_timeout"},
		{"read timeout 1h", func(s *Source) { s.ReadTimeout.D = time.Hour }, "read_timeout"},
		{"timeouts in range", func(s *Source) { s.ConnectTimeout.D, s.ReadTimeout.D = 3*time.Second, time.Second }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := ok
			c.edit(&s)
			wantField(t, s.Validate(false), c.field)
		})
	}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *ValidationError
	switch {
	case field == "" && err != nil:
		t.Fatalf("unexpected error %v", err)
	case field != "" && !errors.As(err, &ve):
		t.Fatalf("err = %v, want a ValidationError on %s", err, field)
	case field != "" && ve.Field != field:
		t.Fatalf("field = %q (%v), want %q", ve.Field, err, field)
	}
}

// The global encoder section has the same bounds.
func TestGlobalEncoderBounds(t *testing.T) {
	for _, y := range []string{"encoder: {width: 8192}\n", "encoder: {fps: 240}\n", "encoder: {fps: .nan}\n"} {
		if _, err := Parse([]byte(y)); err == nil || !strings.Contains(err.Error(), "encoder.") {
			t.Errorf("%q: err = %v", y, err)
		}
	}
}

// limits.sources caps sources: 256 by default, in the file and for the
// manager's count check, with the error the API shows.
func TestSourceLimit(t *testing.T) {
	c := Default()
	if c.MaxSources() != 256 || c.CheckSourceCount(255) != nil {
		t.Fatalf("default max %d", c.MaxSources())
	}
	err := c.CheckSourceCount(256)
	if !errors.Is(err, ErrSourceLimit) || err.Error() != "source limit reached (limits.sources: 256)" {
		t.Fatalf("err = %v", err)
	}
	var b strings.Builder
	b.WriteString("limits: {sources: 2}\nsources:\n")
	for _, n := range []string{"a", "b", "c"} {
		b.WriteString("  - {name: " + n + ", url: 'rtsp://h/" + n + "'}\n")
	}
	if _, err := Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "limits.sources") {
		t.Fatalf("3 sources over a limit of 2: err = %v", err)
	}
	if _, err := Parse([]byte("limits: {sources: -2}\n")); err == nil {
		t.Fatal("limits.sources -2 accepted")
	}
	c, err = Parse([]byte("limits: {sources: -1}\n"))
	if err != nil || c.CheckSourceCount(1_000_000) != nil {
		t.Fatalf("unlimited: %v", err)
	}
}

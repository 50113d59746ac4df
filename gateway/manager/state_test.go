package manager

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/visiongate/visiongate/gateway/config"
)

func TestApplyPatch(t *testing.T) {
	base := config.Source{Name: "cam", URL: "rtsp://h/1", Transport: "tcp",
		Encoder: config.Encoder{CRF: 20, Width: 640}, Vision: &config.Vision{Detector: "people", FPS: 5}}
	cases := []struct {
		name  string
		patch string
		check func(config.Source) bool
		err   bool
	}{
		{"replace url", `{"url":"rtsp://h/2"}`, func(s config.Source) bool { return s.URL == "rtsp://h/2" && s.Transport == "tcp" }, false},
		{"nested merge keeps siblings", `{"encoder":{"crf":30}}`, func(s config.Source) bool { return s.Encoder.CRF == 30 && s.Encoder.Width == 640 }, false},
		{"null removes", `{"vision":null,"transport":null}`, func(s config.Source) bool { return s.Vision == nil && s.Transport == "" }, false},
		{"empty patch", `{}`, func(s config.Source) bool { return s.URL == base.URL && s.Vision.FPS == 5 }, false},
		{"unknown field", `{"colour":"red"}`, nil, true},
		{"not an object", `[1]`, nil, true},
		{"wrong type", `{"encoder":{"crf":"high"}}`, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := applyPatch(base, json.RawMessage(c.patch))
			if c.err {
				var ve *config.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want a ValidationError", err)
				}
				return
			}
			if err != nil || !c.check(got) {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

func TestStateFileRoundTripAndAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	m := &Manager{state: &stateFile{path: path}}
	a := config.Source{Name: "a", URL: "rtsp://h/a"}
	b := config.Source{Name: "b", URL: "rtsp://u:pw@h/b"}
	for _, step := range []struct {
		name string
		src  *config.Source
	}{{"a", &a}, {"b", &b}, {"a", nil}} {
		if err := m.persist(step.name, step.src); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := (&stateFile{path: path}).load()
	if err != nil {
		t.Fatal(err)
	}
	if loaded := doc.Sources; len(loaded) != 1 || loaded[0] != b {
		t.Fatalf("loaded %+v, want only b (credentials kept: the state file is the config)", loaded)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestStateFileRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(`{"sources":[{"name":"a","bogus":1}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&stateFile{path: path}).load(); err == nil {
		t.Fatal("a state file with unknown fields loaded")
	}
	missing := &stateFile{path: filepath.Join(t.TempDir(), "none.json")}
	if doc, err := missing.load(); err != nil || doc.Sources != nil || doc.Deleted != nil {
		t.Fatalf("missing file: %+v %v", doc, err)
	}
}

package manager_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/gateway/pipeline"
)

// The manager's own JSON merge patch (RFC 7396), through Update on a
// running source: null removes a member, objects merge member by member at
// every depth, arrays are replaced whole, absent members stay, and a rename
// is refused with the source left as it was.

// patchBase is the source every case starts from. Its camera refuses
// connections, so the pipelines cost nothing; the backoff keeps them from
// retrying.
const patchBase = `
sources:
  - name: cam
    url: rtsp://127.0.0.1:1/cam
    transport: tcp
    encoder: {crf: 20, width: 640}
    vision:
      detector: motion
      fps: 5
      class_filter: [person, bicycle]
      tracker: {min_hits: 3, max_age: 4s}
      zones:
        - {name: door, polygon: [[0, 0], [10, 0], [10, 10]], labels: [person], min_frames: 2}
        - {name: yard, polygon: [[20, 20], [30, 20], [30, 30]]}
`

func newPatchManager(t *testing.T) *manager.Manager {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf("state: %s\n%s",
		filepath.Join(t.TempDir(), "state.json"), patchBase)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manager.New(manager.Options{Config: cfg, Log: slog.New(slog.DiscardHandler),
		Backoff: pipeline.Backoff{Min: time.Hour, Max: time.Hour, Probe: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func getSource(t *testing.T, m *manager.Manager) config.Source {
	t.Helper()
	st, err := m.Get("cam")
	if err != nil {
		t.Fatal(err)
	}
	return st.Source
}

func TestUpdateMergePatch(t *testing.T) {
	cases := []struct {
		name, patch string
		// want changes the base source into the expected result.
		want func(s *config.Source)
	}{
		{"null removes, siblings stay", `{"transport":null,"vision":{"class_filter":null,"tracker":null}}`,
			func(s *config.Source) { s.Transport, s.Vision.ClassFilter, s.Vision.Tracker = "", nil, nil }},
		{"objects merge at every depth", `{"encoder":{"crf":30},"vision":{"tracker":{"min_hits":5}}}`,
			func(s *config.Source) { s.Encoder.CRF, s.Vision.Tracker.MinHits = 30, 5 }},
		// Replaced, not merged by index: the new first zone does not
		// inherit door's labels and min_frames, and yard is gone.
		{"arrays replace", `{"vision":{"class_filter":["car"],"zones":[{"name":"gate","polygon":[[1,1],[2,1],[2,2]]}]}}`,
			func(s *config.Source) {
				s.Vision.ClassFilter = []string{"car"}
				s.Vision.Zones = []config.Zone{{Name: "gate", Polygon: [][2]float64{{1, 1}, {2, 1}, {2, 2}}}}
			}},
		{"empty patch changes nothing", `{}`, func(*config.Source) {}},
		{"same name is no rename", `{"name":"cam","url":"rtsp://127.0.0.1:1/other"}`,
			func(s *config.Source) { s.URL = "rtsp://127.0.0.1:1/other" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newPatchManager(t)
			want := getSource(t, m)
			want.Vision = clone(t, want.Vision)
			c.want(&want)
			st, err := m.Update("cam", json.RawMessage(c.patch))
			if err != nil {
				t.Fatalf("Update(%s): %v", c.patch, err)
			}
			if !reflect.DeepEqual(st.Source, want) {
				t.Errorf("Update(%s) =\n%s\nwant\n%s", c.patch, asJSON(st.Source), asJSON(want))
			}
			if got := getSource(t, m); !reflect.DeepEqual(got, want) {
				t.Errorf("Get after Update(%s) =\n%s\nwant\n%s", c.patch, asJSON(got), asJSON(want))
			}
		})
	}
}

func TestUpdateRefusesRename(t *testing.T) {
	for _, patch := range []string{`{"name":"cam2"}`, `{"name":"cam2","encoder":{"crf":40}}`, `{"name":null}`} {
		t.Run(patch, func(t *testing.T) {
			m := newPatchManager(t)
			before := getSource(t, m)
			_, err := m.Update("cam", json.RawMessage(patch))
			var ve *config.ValidationError
			if !errors.As(err, &ve) || ve.Field != "name" {
				t.Fatalf("Update(%s) = %v, want a ValidationError on name", patch, err)
			}
			if got := getSource(t, m); !reflect.DeepEqual(got, before) {
				t.Errorf("refused patch changed the source:\n%s\nwas\n%s", asJSON(got), asJSON(before))
			}
			if _, err := m.Get("cam2"); !errors.Is(err, manager.ErrNotFound) {
				t.Errorf("Get(cam2) after a refused rename = %v, want ErrNotFound", err)
			}
			if n := len(m.List()); n != 1 {
				t.Errorf("%d sources after a refused rename, want 1", n)
			}
		})
	}
}

// clone deep-copies v through JSON, so a case's edits leave the source the
// manager holds alone.
func clone[T any](t *testing.T, v T) T {
	t.Helper()
	var out T
	if err := json.Unmarshal([]byte(asJSON(v)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func asJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

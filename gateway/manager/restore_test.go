package manager

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visiongate/visiongate/gateway/config"
)

// Two state entries with one name start one pipeline (the first entry's),
// the refusal is logged naming the source, and DELETE leaves nothing
// running.
func TestDuplicateStateEntriesStartOnlyTheFirst(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{Sources: []config.Source{
		src("dup", "rtsp://cam.test/first"), src("dup", "rtsp://cam.test/second"), src("b", "rtsp://cam.test/b"),
	}})
	made := h.pipes.made("dup")
	if len(made) != 1 || made[0].src.URL != "rtsp://cam.test/first" {
		urls := []string{}
		for _, r := range made {
			urls = append(urls, r.src.URL)
		}
		t.Fatalf("pipelines made for dup: %v, want only the first entry's", urls)
	}
	if log := h.logBuf.String(); !strings.Contains(log, "duplicate") || !strings.Contains(log, "name=dup") {
		t.Errorf("no error naming the duplicate in the log:\n%s", log)
	}
	if err := h.Remove("dup"); err != nil {
		t.Fatal(err)
	}
	if n := h.pipes.running("dup"); n != 0 {
		t.Errorf("%d pipelines of dup still running after DELETE", n)
	}
	if doc, _ := h.store.saved(); len(doc.Sources) != 1 || doc.Sources[0].Name != "b" {
		t.Errorf("state after DELETE: %+v", doc.Sources)
	}
}

const doorConfig = "sources:\n  - name: door\n    url: rtsp://cam.test/door\n  - name: yard\n    url: rtsp://cam.test/yard\n"

// restart closes h and starts a Manager on the same store with yaml's
// config.
func (h *harness) restart(yaml string) *harness {
	h.t.Helper()
	h.Close()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		h.t.Fatal(err)
	}
	return startHarness(h.t, cfg, h.store)
}

// A config-file source deleted through the API stays deleted after a
// restart; the other config sources still start.
func TestDeletedConfigSourceStaysDeletedAfterRestart(t *testing.T) {
	h := newHarness(t, doorConfig, stateDoc{})
	if err := h.Remove("door"); err != nil {
		t.Fatal(err)
	}
	if doc, _ := h.store.saved(); len(doc.Deleted) != 1 || doc.Deleted[0].Name != "door" {
		t.Fatalf("state after deleting a config source: %+v", doc)
	}
	h2 := h.restart(doorConfig)
	if _, err := h2.Get("door"); !errors.Is(err, ErrNotFound) {
		t.Errorf("door after restart: %v, want ErrNotFound", err)
	}
	if n := h2.pipes.running("door"); n != 0 {
		t.Errorf("%d door pipelines running after restart", n)
	}
	if n := h2.pipes.running("yard"); n != 1 {
		t.Errorf("%d yard pipelines running, want 1", n)
	}
}

// The API re-adding a deleted config source clears its tombstone, and the
// source then survives restarts.
func TestReAddedConfigSourceComesBack(t *testing.T) {
	h := newHarness(t, doorConfig, stateDoc{})
	if err := h.Remove("door"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Add(src("door", "rtsp://cam.test/door2")); err != nil {
		t.Fatal(err)
	}
	if doc, _ := h.store.saved(); len(doc.Deleted) != 0 {
		t.Errorf("tombstone kept after the API re-added door: %+v", doc.Deleted)
	}
	h2 := h.restart(doorConfig)
	if st, err := h2.Get("door"); err != nil || st.Source.URL != "rtsp://cam.test/door2" {
		t.Errorf("door after restart: %+v %v, want the API's definition", st.Source, err)
	}
}

// A config file that changes a deleted source, or drops and later
// re-adds it, brings it back; the stale tombstone leaves the state file.
func TestConfigChangeRevivesADeletedSource(t *testing.T) {
	cases := []struct {
		name  string
		steps []string // configs of the restarts after the deletion
	}{
		{"definition changed", []string{strings.Replace(doorConfig, "cam.test/door", "cam.test/door-new", 1)}},
		{"dropped, then re-added", []string{"sources:\n  - name: yard\n    url: rtsp://cam.test/yard\n", doorConfig}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, doorConfig, stateDoc{})
			if err := h.Remove("door"); err != nil {
				t.Fatal(err)
			}
			for _, yaml := range c.steps {
				h = h.restart(yaml)
			}
			if n := h.pipes.running("door"); n != 1 {
				t.Errorf("%d door pipelines running after the config re-added it, want 1", n)
			}
			if doc, _ := h.store.saved(); len(doc.Deleted) != 0 {
				t.Errorf("stale tombstone kept: %+v", doc.Deleted)
			}
		})
	}
}

// Deleting a source only the API made leaves no tombstone, and deleting
// a config source that the API had overridden leaves one.
func TestTombstonesOnlyForConfigSources(t *testing.T) {
	h := newHarness(t, doorConfig, stateDoc{Sources: []config.Source{src("door", "rtsp://cam.test/override")}})
	if st, err := h.Get("door"); err != nil || st.Source.URL != "rtsp://cam.test/override" {
		t.Fatalf("door: %+v %v, want the state file's override", st.Source, err)
	}
	h.addRunning(src("api", "rtsp://cam.test/api"))
	for _, name := range []string{"api", "door"} {
		if err := h.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	doc, _ := h.store.saved()
	if len(doc.Deleted) != 1 || doc.Deleted[0].Name != "door" || len(doc.Sources) != 0 {
		t.Errorf("state after deleting an API source and an overridden config source: %+v", doc)
	}
}

// Tombstones survive the real file's round trip.
func TestStateFileKeepsTombstones(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	want := stateDoc{Sources: []config.Source{src("a", "rtsp://h/a")},
		Deleted: []tombstone{{Name: "door", Config: fingerprint(src("door", "rtsp://h/door"))}}}
	f := &stateFile{path: path}
	if err := f.write(want); err != nil {
		t.Fatal(err)
	}
	got, err := f.load()
	if err != nil || len(got.Deleted) != 1 || got.Deleted[0] != want.Deleted[0] || len(got.Sources) != 1 {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "rtsp://h/door") {
		t.Errorf("the tombstone repeats the deleted definition:\n%s", b)
	}
}

package manager

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/output"
)

// fakeOutput is a plug-in output the manager knows only through the
// registry: it records what is attached and reports set reader counts.
type fakeOutput struct {
	mu       sync.Mutex
	attached map[string]output.Source
	readers  map[string]int
}

func (f *fakeOutput) Protocol() string { return "fake" }

func (f *fakeOutput) Attach(s output.Source) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached[s.Name] = s
}

func (f *fakeOutput) Detach(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attached, name)
}

func (f *fakeOutput) Readers(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readers[name]
}

func (f *fakeOutput) URLs(name string) map[string]string {
	return map[string]string{"fake": "fake://" + name}
}

func (f *fakeOutput) source(name string) (output.Source, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.attached[name]
	return s, ok
}

// An output added to the registry gets every source attached with its
// units and pictures, shows up in the status's readers and outputs, and
// loses the source when it is removed: no other wiring.
func TestOutputPlugInThroughTheRegistry(t *testing.T) {
	fake := &fakeOutput{attached: map[string]output.Source{}, readers: map[string]int{"a": 3}}
	h := newHarness(t, noSources, stateDoc{})
	cfg, _ := config.Parse([]byte(noSources))
	m, err := New(Options{Config: cfg, Outputs: output.NewRegistry(h.pub, fake), Vision: h.stages.factory,
		Log: slog.New(slog.DiscardHandler), store: &fakeStore{}, pipelines: h.pipes.make})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Add(src("a", "rtsp://cam/a")); err != nil {
		t.Fatal(err)
	}
	got, ok := fake.source("a")
	if !ok || got.Units == nil || got.Pictures == nil {
		t.Fatalf("attached %+v (%v), want units and pictures", got, ok)
	}
	st, err := m.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	if st.Readers["fake"] != 3 || st.Readers["rtsp"] != 0 || len(st.Readers) != 2 {
		t.Errorf("readers %v, want fake 3 and rtsp 0", st.Readers)
	}
	if st.Outputs["fake"] != "fake://a" || st.Outputs["rtsp"] != "rtsp://fake/a" {
		t.Errorf("outputs %v", st.Outputs)
	}
	if err := m.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.source("a"); ok || h.pub.attached("a") {
		t.Error("a removed source stays attached")
	}
}

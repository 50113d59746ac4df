package manager

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/visiongate/visiongate/gateway/config"
)

const noSources = "sources: []\n"

func motion(s config.Source) config.Source {
	s.Vision = &config.Vision{Detector: "motion"}
	return s
}

// The state file refuses the new source: the error says so, no pipeline
// was made, nothing is attached, the stage is closed again, and the name
// is free for the next try.
func TestAddPersistFailureStartsNothing(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	h.store.setFail(errDisk)
	_, err := h.Add(motion(src("a", "rtsp://cam.test/a")))
	if !errors.Is(err, ErrSaveState) || !errors.Is(err, errDisk) {
		t.Fatalf("Add = %v, want ErrSaveState wrapping the disk error", err)
	}
	if n := len(h.pipes.made("a")); n != 0 {
		t.Errorf("%d pipelines made for a source that was not saved", n)
	}
	if _, err := h.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the failed Add = %v, want ErrNotFound", err)
	}
	if h.pub.attached("a") {
		t.Error("the unsaved source is attached to the publisher")
	}
	if len(h.stages.made) != 1 || !h.stages.made[0].isClosed() {
		t.Errorf("the stage built for the failed Add was not closed (%d made)", len(h.stages.made))
	}
	h.store.setFail(nil)
	if _, err := h.Add(src("a", "rtsp://cam.test/a")); err != nil {
		t.Fatalf("Add after the disk recovered = %v", err)
	}
	if n := h.pipes.running("a"); n != 1 {
		t.Errorf("%d pipelines of a running, want 1", n)
	}
}

// A detector that cannot be built is the request's fault (400): nothing
// is saved and nothing starts.
func TestAddStageFailureIsAValidationErrorAndStartsNothing(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	h.stages.failing = &config.ValidationError{Field: "vision.model", Reason: "cannot load"}
	_, err := h.Add(motion(src("a", "rtsp://cam.test/a")))
	var ve *config.ValidationError
	if !errors.As(err, &ve) || ve.Field != "vision.model" {
		t.Fatalf("Add = %v, want the stage's ValidationError", err)
	}
	if _, writes := h.store.saved(); writes != 0 {
		t.Errorf("state written %d times for a refused source", writes)
	}
	if n := len(h.pipes.made("a")); n != 0 || h.pub.attached("a") {
		t.Errorf("%d pipelines made, attached %v", n, h.pub.attached("a"))
	}
}

// addRunning adds a source and returns its runner.
func (h *harness) addRunning(s config.Source) *fakeRunner {
	h.t.Helper()
	if _, err := h.Add(s); err != nil {
		h.t.Fatalf("Add(%s) = %v", s.Name, err)
	}
	made := h.pipes.made(s.Name)
	return made[len(made)-1]
}

// The state file refuses a change: the old source keeps running as it
// was, in memory and on disk.
func TestUpdatePersistFailureKeepsTheOldSourceRunning(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	old := h.addRunning(src("a", "rtsp://cam.test/old"))
	h.store.setFail(errDisk)
	_, err := h.Update("a", json.RawMessage(`{"url":"rtsp://cam.test/new"}`))
	if !errors.Is(err, ErrSaveState) {
		t.Fatalf("Update = %v, want ErrSaveState", err)
	}
	h.checkUnchanged(old, "rtsp://cam.test/old")
}

// A PATCH that fails to save undoes its detector change: a stage made
// for it is closed, and an updated one gets its old settings back.
func TestUpdatePersistFailureUndoesTheStage(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	h.addRunning(src("a", "rtsp://cam.test/a"))
	h.store.setFail(errDisk)
	if _, err := h.Update("a", json.RawMessage(`{"vision":{"detector":"motion"}}`)); !errors.Is(err, ErrSaveState) {
		t.Fatalf("Update = %v, want ErrSaveState", err)
	}
	if len(h.stages.made) != 1 || !h.stages.made[0].isClosed() {
		t.Fatalf("the stage made for the failed change was not closed (%d made)", len(h.stages.made))
	}
	h.store.setFail(nil)
	if _, err := h.Update("a", json.RawMessage(`{"vision":{"detector":"motion"}}`)); err != nil {
		t.Fatal(err)
	}
	h.store.setFail(errDisk)
	if _, err := h.Update("a", json.RawMessage(`{"vision":{"detector":"faces"}}`)); !errors.Is(err, ErrSaveState) {
		t.Fatalf("Update = %v, want ErrSaveState", err)
	}
	st := h.stages.made[1]
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.detector != "motion" {
		t.Errorf("after the failed change the stage runs %q (closed %v), want motion", st.detector, st.closed)
	}
}

// checkUnchanged asserts that the source of old is still old, running,
// and saved with url.
func (h *harness) checkUnchanged(old *fakeRunner, url string) {
	h.t.Helper()
	name := old.src.Name
	if !old.running() || len(h.pipes.made(name)) != 1 {
		h.t.Errorf("old pipeline running %v, %d pipelines made: the change was half-applied", old.running(), len(h.pipes.made(name)))
	}
	if st, err := h.Get(name); err != nil || st.Source.URL != url {
		h.t.Errorf("status after the failed change: %+v %v, want url %s", st.Source, err, url)
	}
	if doc, _ := h.store.saved(); len(doc.Sources) != 1 || doc.Sources[0].URL != url {
		h.t.Errorf("state after the failed change: %+v", doc.Sources)
	}
}

// A detector added by PATCH that cannot be built leaves the source as it
// was, and nothing is saved.
func TestUpdateStageFailureKeepsTheOldSourceRunning(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	old := h.addRunning(src("a", "rtsp://cam.test/a"))
	h.stages.failing = &config.ValidationError{Field: "vision.model", Reason: "cannot load"}
	_, err := h.Update("a", json.RawMessage(`{"vision":{"detector":"motion"}}`))
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Update = %v, want a ValidationError", err)
	}
	if _, writes := h.store.saved(); writes != 1 {
		t.Errorf("state written %d times, want once (the Add)", writes)
	}
	h.checkUnchanged(old, "rtsp://cam.test/a")
}

// A change restarts the pipeline on the same hub: the old one is stopped
// before the new one starts, and the publishers keep the hub attached.
func TestUpdateRestartsThePipelineOnTheSameHub(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	old := h.addRunning(src("a", "rtsp://cam.test/old"))
	if _, err := h.Update("a", json.RawMessage(`{"url":"rtsp://cam.test/new"}`)); err != nil {
		t.Fatal(err)
	}
	made := h.pipes.made("a")
	if len(made) != 2 || old.running() || !made[1].running() {
		t.Fatalf("%d pipelines, old running %v", len(made), old.running())
	}
	if made[1].hub != old.hub || made[1].src.URL != "rtsp://cam.test/new" {
		t.Errorf("new pipeline on another hub or with url %s", made[1].src.URL)
	}
	if stop, start := h.log.index("stop-end a#1"), h.log.index("start a#2"); stop < 0 || start < stop {
		t.Errorf("new pipeline started at %d, old stopped at %d", start, stop)
	}
	if h.log.index("detach a") >= 0 {
		t.Error("the hub was detached by a change")
	}
}

// The state file refuses a removal: the source keeps running and stays
// listed and saved.
func TestRemovePersistFailureKeepsTheSourceRunning(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	old := h.addRunning(src("a", "rtsp://cam.test/a"))
	h.store.setFail(errDisk)
	if err := h.Remove("a"); !errors.Is(err, ErrSaveState) {
		t.Fatalf("Remove = %v, want ErrSaveState", err)
	}
	h.checkUnchanged(old, "rtsp://cam.test/a")
	if !h.pub.attached("a") {
		t.Error("the source was detached although its removal failed")
	}
}

// Remove detaches, stops and forgets the source, and unknown names are
// ErrNotFound.
func TestRemoveStopsAndDetaches(t *testing.T) {
	h := newHarness(t, noSources, stateDoc{})
	old := h.addRunning(motion(src("a", "rtsp://cam.test/a")))
	if err := h.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if old.running() || h.pub.attached("a") || !h.stages.made[0].isClosed() {
		t.Errorf("after Remove: running %v, attached %v, stage closed %v", old.running(), h.pub.attached("a"), h.stages.made[0].isClosed())
	}
	if doc, _ := h.store.saved(); len(doc.Sources) != 0 {
		t.Errorf("state after Remove: %+v", doc.Sources)
	}
	if err := h.Remove("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
}

// The egress policy follows the URL: a config-file source changed in
// other fields stays the operator's; a new URL from the API is checked.
func TestEgressFollowsTheURLAcrossUpdates(t *testing.T) {
	h := newHarness(t, "egress: {denied_networks: [10.0.0.0/8]}\nsources:\n  - name: cfg\n    url: rtsp://10.0.0.7/s\n",
		stateDoc{})
	if _, err := h.Update("cfg", json.RawMessage(`{"transport":"tcp"}`)); err != nil {
		t.Fatal(err)
	}
	made := h.pipes.made("cfg")
	if last := made[len(made)-1]; last.url.HostPolicy() != nil {
		t.Errorf("a config source changed in another field got the egress policy")
	}
	if _, err := h.Update("cfg", json.RawMessage(`{"url":"rtsp://cam.example/s"}`)); err != nil {
		t.Fatal(err)
	}
	made = h.pipes.made("cfg")
	if last := made[len(made)-1]; last.url.HostPolicy() == nil {
		t.Errorf("a URL from the API runs without the egress policy")
	}
}

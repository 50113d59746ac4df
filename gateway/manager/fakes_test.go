package manager

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/gateway/pipeline"
	"github.com/visiongate/visiongate/media"
)

var errDisk = errors.New("disk full")

// fakeStore is an in-memory state file whose writes can be made to fail.
type fakeStore struct {
	mu     sync.Mutex
	doc    stateDoc // what is on "disk"
	fail   error
	writes int
}

func (s *fakeStore) load() (stateDoc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc, nil
}

func (s *fakeStore) write(d stateDoc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.doc, s.writes = d, s.writes+1
	return nil
}

func (s *fakeStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *fakeStore) saved() (stateDoc, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc, s.writes
}

// fakeRunner stands in for a pipeline. Its Stop blocks while gate is open
// (not nil and not closed).
type fakeRunner struct {
	id       string // name#n
	src      config.Source
	url      *config.SourceURL
	hub      *hub.Hub
	log      *events
	gate     chan struct{}
	stopping chan struct{} // closed when Stop begins

	stopOnce         sync.Once
	mu               sync.Mutex
	started, stopped bool
}

func (r *fakeRunner) Start() {
	r.mu.Lock()
	r.started = true
	r.mu.Unlock()
	r.log.add("start " + r.id)
}

// Stop, like a pipeline's, does its work once.
func (r *fakeRunner) Stop() { r.stopOnce.Do(r.stop) }

func (r *fakeRunner) stop() {
	r.log.add("stop-begin " + r.id)
	close(r.stopping)
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.log.add("stop-end " + r.id)
}

func (r *fakeRunner) Stats() pipeline.Stats { return pipeline.Stats{State: pipeline.StateRunning} }

func (r *fakeRunner) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started && !r.stopped
}

// events is an ordered log of what the fakes saw.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.list = append(e.list, s)
	e.mu.Unlock()
}

func (e *events) index(s string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, x := range e.list {
		if x == s {
			return i
		}
	}
	return -1
}

// fakePipelines makes fakeRunners and remembers them.
type fakePipelines struct {
	log   *events
	mu    sync.Mutex
	all   []*fakeRunner
	gates map[string]chan struct{} // source name → gate of its next runner
}

func (f *fakePipelines) make(o pipeline.Options) runner {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 1
	for _, r := range f.all {
		if r.src.Name == o.Source.Name {
			n++
		}
	}
	r := &fakeRunner{id: fmt.Sprintf("%s#%d", o.Source.Name, n), src: o.Source, url: o.URL, hub: o.Hub, log: f.log,
		gate: f.gates[o.Source.Name], stopping: make(chan struct{})}
	delete(f.gates, o.Source.Name)
	f.all = append(f.all, r)
	return r
}

// slowStop makes the next runner of name block in Stop until the
// returned gate is closed.
func (f *fakePipelines) slowStop(name string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gates == nil {
		f.gates = map[string]chan struct{}{}
	}
	g := make(chan struct{})
	f.gates[name] = g
	return g
}

// made returns every runner made for name, oldest first.
func (f *fakePipelines) made(name string) []*fakeRunner {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fakeRunner
	for _, r := range f.all {
		if r.src.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// running counts the runners of name started and not stopped.
func (f *fakePipelines) running(name string) int {
	n := 0
	for _, r := range f.made(name) {
		if r.running() {
			n++
		}
	}
	return n
}

// fakePublisher records attachments.
type fakePublisher struct {
	log *events
	mu  sync.Mutex
	on  map[string]*hub.Hub
}

func (p *fakePublisher) Protocol() string { return "rtsp" }

func (p *fakePublisher) Attach(s output.Source) {
	name := s.Name
	p.mu.Lock()
	p.on[name] = s.Units
	p.mu.Unlock()
	p.log.add("attach " + name)
}

func (p *fakePublisher) Detach(name string) {
	p.mu.Lock()
	delete(p.on, name)
	p.mu.Unlock()
	p.log.add("detach " + name)
}

func (p *fakePublisher) Readers(string) int { return 0 }

func (p *fakePublisher) URLs(name string) map[string]string {
	return map[string]string{"rtsp": "rtsp://fake/" + name}
}

func (p *fakePublisher) attached(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.on[name] != nil
}

// fakeStage is a vision stage that does nothing.
type fakeStage struct {
	mu       sync.Mutex
	closed   bool
	detector string // of the last Update
}

func (s *fakeStage) Process(*media.Frame) {}
func (s *fakeStage) Observe(*media.Frame) {}
func (s *fakeStage) Update(v config.Vision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.detector = v.Detector
	return nil
}
func (s *fakeStage) Latest() (media.Detections, bool) {
	return media.Detections{}, false
}
func (s *fakeStage) Subscribe(int) (<-chan media.Detections, func()) { return nil, func() {} }
func (s *fakeStage) Status() VisionStatus                            { return VisionStatus{} }
func (s *fakeStage) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *fakeStage) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// stages is a StageFactory that fails while failing is set.
type stages struct {
	mu      sync.Mutex
	failing error
	made    []*fakeStage
}

func (f *stages) factory(string, config.Vision) (Stage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, f.failing
	}
	s := &fakeStage{}
	f.made = append(f.made, s)
	return s, nil
}

// harness is a Manager on fakes.
type harness struct {
	*Manager
	t      *testing.T
	cfg    *config.Config
	store  *fakeStore
	pipes  *fakePipelines
	pub    *fakePublisher
	stages *stages
	log    *events
	logBuf *syncBuffer
}

// newHarness starts a Manager on yaml's config and a state store holding
// saved.
func newHarness(t *testing.T, yaml string, saved stateDoc) *harness {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return startHarness(t, cfg, &fakeStore{doc: saved})
}

// startHarness starts a Manager on cfg and store (a restart when store
// was used before).
func startHarness(t *testing.T, cfg *config.Config, store *fakeStore) *harness {
	t.Helper()
	log := &events{}
	h := &harness{t: t, cfg: cfg, store: store, pipes: &fakePipelines{log: log}, log: log,
		pub: &fakePublisher{log: log, on: map[string]*hub.Hub{}}, stages: &stages{}, logBuf: &syncBuffer{}}
	m, err := New(Options{Config: cfg, Outputs: output.NewRegistry(h.pub), Vision: h.stages.factory,
		Log: slog.New(slog.NewTextHandler(h.logBuf, nil)), store: store, pipelines: h.pipes.make})
	if err != nil {
		t.Fatal(err)
	}
	h.Manager = m
	t.Cleanup(m.Close)
	return h
}

func src(name, url string) config.Source { return config.Source{Name: name, URL: url} }

// within runs f and fails the test if it has not returned after d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

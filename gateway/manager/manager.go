// Package manager keeps the registry of running sources: it adds, changes
// and removes pipelines at runtime, attaches them to the publishers, answers
// status queries and persists API-made changes in the state file.
package manager

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/mjpeg"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/gateway/pipeline"
	"github.com/visiongate/visiongate/gateway/publish"
)

// Options configure a Manager.
type Options struct {
	Config *config.Config
	// Outputs serve every source (RTSP, LL-HLS, MJPEG, ...); their reader
	// counts and URLs make the status's.
	Outputs *output.Registry
	Log     *slog.Logger
	// Vision, when set, makes the vision stage of sources with a detector.
	Vision StageFactory
	// Backoff overrides the pipelines' retry timing.
	Backoff pipeline.Backoff
	// Publish, when set, hands publish sources their publishers.
	Publish *publish.Broker
	// Metrics, when set, gets each source's per-frame timings.
	Metrics interface {
		Observer(name string) pipeline.Observer
		Forget(name string)
	}

	// store and pipelines stand in for the state file and the real
	// pipelines in tests; nil means the real ones.
	store     stateStore
	pipelines func(pipeline.Options) runner
}

// runner is a source's pipeline as the manager drives it.
type runner interface {
	Start()
	// Stop waits until the source's goroutines are gone; it can take as
	// long as the camera takes to hang up.
	Stop()
	Stats() pipeline.Stats
}

// Manager is safe for concurrent use. Add, Update and Remove take the
// lock of the source they change only, so a slow stop of one source never
// holds up changes to another; Close waits for the changes in flight.
type Manager struct {
	opts  Options
	log   *slog.Logger
	state stateStore

	stateMu sync.Mutex // saved and the state file's writes
	saved   stateDoc

	names     nameLocks      // one change at a time per source name
	inflight  sync.WaitGroup // changes in progress, for Close
	closeOnce sync.Once

	mu       sync.RWMutex
	entries  map[string]*entry
	reserved int // slots of limits.sources taken by Adds in flight
	closed   bool
}

type entry struct {
	src      config.Source // as given (unresolved), for status and state
	fromAPI  bool          // persisted in the state file
	hub      *hub.Hub
	jpeg     *mjpeg.Hub
	stage    Stage // nil without a detector
	pipeline runner
	// auto: created by its first publisher (auto_publish), never saved.
	auto bool
}

// New starts the config file's sources, then the state file's (which
// override config sources of the same name). Config sources deleted
// through the API stay deleted (see tombstone).
func New(o Options) (*Manager, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Outputs == nil {
		o.Outputs = output.NewRegistry()
	}
	if o.store == nil {
		o.store = &stateFile{path: o.Config.State}
	}
	if o.pipelines == nil {
		o.pipelines = func(po pipeline.Options) runner { return pipeline.New(po) }
	}
	m := &Manager{opts: o, log: o.Log, entries: map[string]*entry{}, state: o.store}
	saved, deleted, err := m.restore()
	if err != nil {
		return nil, err
	}
	overridden := map[string]bool{}
	for _, s := range saved {
		overridden[s.Name] = true
	}
	for _, s := range o.Config.Sources {
		switch {
		case overridden[s.Name]:
		case deleted[s.Name]:
			m.log.Info("config source stays deleted (removed through the API)", "name", s.Name)
		default:
			m.startLogged(s, false)
		}
	}
	for _, s := range saved {
		if err := m.validateSaved(&s); err != nil {
			m.log.Error("state file: skipping invalid source", "name", s.Name, "err", err)
			continue
		}
		m.startLogged(s, true)
	}
	return m, nil
}

// startLogged starts a source from a file; a detector that cannot be
// built is logged and the video runs without it.
func (m *Manager) startLogged(src config.Source, fromAPI bool) {
	stage, err := m.makeStage(src)
	if err != nil {
		m.log.Error("vision disabled for source", "name", src.Name, "err", err)
	}
	m.start(src, fromAPI, stage)
}

// start creates and runs a pipeline for a validated source.
func (m *Manager) start(src config.Source, fromAPI bool, stage Stage) *entry {
	return m.launch(&entry{src: src, fromAPI: fromAPI, stage: stage})
}

// launch gives a new entry its hub and pipeline, and starts it.
func (m *Manager) launch(e *entry) *entry {
	src := e.src
	e.hub, e.jpeg = hub.New(src.Name), mjpeg.New()
	e.pipeline = m.newPipeline(src, e)
	m.mu.Lock()
	m.entries[src.Name] = e
	m.mu.Unlock()
	m.opts.Outputs.Attach(output.Source{Name: src.Name, Units: e.hub, Pictures: e.jpeg})
	e.pipeline.Start()
	m.log.Info("source added", "name", src.Name, "url", config.MaskURL(src.URL))
	return e
}

func (m *Manager) newPipeline(src config.Source, e *entry) runner {
	resolved := m.opts.Config.Resolve(src)
	e.hub.SetOnDemand(resolved.EncodesOnDemand(), 0)
	// Validated already, so the URL parses. SourceInput adds the
	// source's TLS options and, for API sources, the egress check.
	u, _ := m.opts.Config.SourceInput(resolved, e.fromAPI)
	var stage pipeline.FrameStage
	if e.stage != nil {
		stage = e.stage
	}
	var obs pipeline.Observer
	if m.opts.Metrics != nil {
		obs = m.opts.Metrics.Observer(src.Name)
	}
	return m.opts.pipelines(pipeline.Options{Source: resolved, URL: u, Hub: e.hub, JPEG: e.jpeg,
		Log: m.log, Stage: stage, Backoff: m.opts.Backoff, Observer: obs, Publish: m.opts.Publish})
}

func (m *Manager) stopEntry(e *entry) {
	m.opts.Outputs.Detach(e.src.Name)
	e.pipeline.Stop()
	if e.stage != nil {
		e.stage.Close()
	}
	e.hub.Close()
	e.jpeg.Close()
}

// Close stops every source, in parallel, and waits for them. Changes in
// flight finish first; later ones fail. A second Close waits for the
// first.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.inflight.Wait()
		m.mu.Lock()
		entries := m.entries
		m.entries = map[string]*entry{}
		m.mu.Unlock()
		var wg sync.WaitGroup
		for _, e := range entries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.stopEntry(e)
			}()
		}
		wg.Wait()
	})
}

// begin starts a change of the source name: it takes that name's lock and
// counts the change in flight, so Close waits for it. ok is false once
// the manager is closed.
func (m *Manager) begin(name string) (end func(), ok bool) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, false
	}
	m.inflight.Add(1)
	m.mu.Unlock()
	unlock := m.names.lock(name)
	return func() {
		unlock()
		m.inflight.Done()
	}, true
}

// List returns every source's status, sorted by name.
func (m *Manager) List() []Status {
	m.mu.RLock()
	list := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		list = append(list, e)
	}
	m.mu.RUnlock()
	sort.Slice(list, func(i, j int) bool { return list[i].src.Name < list[j].src.Name })
	out := make([]Status, len(list))
	for i, e := range list {
		out[i] = m.status(e)
	}
	return out
}

// Get returns one source's status.
func (m *Manager) Get(name string) (Status, error) {
	e, ok := m.lookup(name)
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return m.status(e), nil
}

// Hub returns a source's hub, for outputs served outside the publishers.
func (m *Manager) Hub(name string) (*hub.Hub, bool) {
	e, ok := m.lookup(name)
	if !ok {
		return nil, false
	}
	return e.hub, true
}

// Has reports whether a source of that name exists now.
func (m *Manager) Has(name string) bool {
	_, ok := m.lookup(name)
	return ok
}

func (m *Manager) lookup(name string) (*entry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[name]
	return e, ok
}

// validate applies the API's rules: local sources and ca_file only when
// allowed, the egress policy, the models directory.
func (m *Manager) validate(src *config.Source) error {
	return m.opts.Config.ValidateAPISource(src, nil)
}

// validateSaved checks a state-file source: it came through the API, so
// the API's file rule applies, with the config's local-source policy.
func (m *Manager) validateSaved(src *config.Source) error {
	c := m.opts.Config
	if err := src.Validate(c.AllowLocalSources || c.APILocalSources); err != nil {
		return err
	}
	return c.CheckModelFiles(src.Vision, nil)
}

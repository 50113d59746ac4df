// Package manager keeps the registry of running sources: it adds, changes
// and removes pipelines at runtime, attaches them to the publishers, answers
// status queries and persists API-made changes in the state file.
package manager

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/mjpeg"
	"github.com/visiongate/visiongate/gateway/pipeline"
)

// Publisher serves hubs under source names (RTSP, HLS, ...).
type Publisher interface {
	Protocol() string
	Attach(name string, h *hub.Hub)
	Detach(name string)
	Readers(name string) int
}

// Options configure a Manager.
type Options struct {
	Config     *config.Config
	Publishers []Publisher
	Log        *slog.Logger
	// URLs builds the output URLs shown in status.
	URLs func(name string) Outputs
	// Vision, when set, makes the vision stage of sources with a detector.
	Vision StageFactory
	// Backoff overrides the pipelines' retry timing.
	Backoff pipeline.Backoff
	// Metrics, when set, gets each source's per-frame timings.
	Metrics interface {
		Observer(name string) pipeline.Observer
		Forget(name string)
	}
}

// Manager is safe for concurrent use.
type Manager struct {
	opts  Options
	log   *slog.Logger
	state *stateFile

	ops     sync.Mutex // serialises Add, Update, Remove and Close
	mu      sync.RWMutex
	entries map[string]*entry
	closed  bool
}

type entry struct {
	src      config.Source // as given (unresolved), for status and state
	fromAPI  bool          // persisted in the state file
	hub      *hub.Hub
	jpeg     *mjpeg.Hub
	stage    Stage // nil without a detector
	pipeline *pipeline.Pipeline
}

// New starts the config file's sources, then the state file's (which
// override config sources of the same name).
func New(o Options) (*Manager, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	m := &Manager{opts: o, log: o.Log, entries: map[string]*entry{}, state: &stateFile{path: o.Config.State}}
	saved, err := m.state.load()
	if err != nil {
		return nil, err
	}
	overridden := map[string]bool{}
	for _, s := range saved {
		overridden[s.Name] = true
	}
	for _, s := range o.Config.Sources {
		if !overridden[s.Name] {
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
	e := &entry{src: src, fromAPI: fromAPI, hub: hub.New(src.Name), jpeg: mjpeg.New(), stage: stage}
	e.pipeline = m.newPipeline(src, e)
	m.mu.Lock()
	m.entries[src.Name] = e
	m.mu.Unlock()
	for _, p := range m.opts.Publishers {
		p.Attach(src.Name, e.hub)
	}
	e.pipeline.Start()
	m.log.Info("source added", "name", src.Name, "url", config.MaskURL(src.URL))
	return e
}

func (m *Manager) newPipeline(src config.Source, e *entry) *pipeline.Pipeline {
	resolved := m.opts.Config.Resolve(src)
	// Validated already, so the URL parses.
	u, _ := config.ParseSourceURL(resolved.URL, true)
	var stage pipeline.FrameStage
	if e.stage != nil {
		stage = e.stage
	}
	var obs pipeline.Observer
	if m.opts.Metrics != nil {
		obs = m.opts.Metrics.Observer(src.Name)
	}
	return pipeline.New(pipeline.Options{Source: resolved, URL: u, Hub: e.hub, JPEG: e.jpeg,
		Log: m.log, Stage: stage, Backoff: m.opts.Backoff, Observer: obs})
}

// Add validates and starts a source given through the API.
func (m *Manager) Add(src config.Source) (Status, error) {
	m.ops.Lock()
	defer m.ops.Unlock()
	if err := m.validate(&src); err != nil {
		return Status{}, err
	}
	if _, ok := m.lookup(src.Name); ok {
		return Status{}, fmt.Errorf("%w: %s", ErrExists, src.Name)
	}
	if m.isClosed() {
		return Status{}, ErrClosed
	}
	stage, err := m.makeStage(src)
	if err != nil {
		return Status{}, err
	}
	if err := m.persist(src.Name, &src); err != nil {
		if stage != nil {
			stage.Close()
		}
		return Status{}, err
	}
	return m.status(m.start(src, true, stage)), nil
}

// Update applies a JSON merge patch to a source and restarts its pipeline
// on the same hub, so readers stay connected.
func (m *Manager) Update(name string, patch json.RawMessage) (Status, error) {
	m.ops.Lock()
	defer m.ops.Unlock()
	e, ok := m.lookup(name)
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	src, err := applyPatch(e.src, patch)
	if err != nil {
		return Status{}, err
	}
	if src.Name != name {
		return Status{}, &config.ValidationError{Field: "name", Reason: "cannot be changed"}
	}
	// An unchanged URL passed the policy when the source was added.
	if err := src.Validate(src.URL == e.src.URL || m.opts.Config.APILocalSources); err != nil {
		return Status{}, err
	}
	if err := m.opts.Config.CheckModelFiles(src.Vision, e.src.Vision); err != nil {
		return Status{}, err
	}
	if e.stage != nil && onlyVisionChanged(e.src, src) {
		return m.updateVision(e, src)
	}
	stage, err := m.nextStage(e.stage, src)
	if err != nil {
		return Status{}, err
	}
	if err := m.persist(name, &src); err != nil {
		return Status{}, err
	}
	e.pipeline.Stop()
	if e.stage != nil && stage == nil {
		e.stage.Close()
	}
	next := &entry{src: src, fromAPI: true, hub: e.hub, jpeg: e.jpeg, stage: stage}
	next.pipeline = m.newPipeline(src, next)
	m.replace(next)
	next.pipeline.Start()
	m.log.Info("source changed", "name", name)
	return m.status(next), nil
}

// updateVision applies a detector change without touching the video.
func (m *Manager) updateVision(e *entry, src config.Source) (Status, error) {
	if err := e.stage.Update(*src.Vision); err != nil {
		return Status{}, err
	}
	if err := m.persist(src.Name, &src); err != nil {
		return Status{}, err
	}
	next := *e
	next.src, next.fromAPI = src, true
	m.replace(&next)
	m.log.Info("source detector changed", "name", src.Name, "detector", src.Vision.Detector)
	return m.status(&next), nil
}

func (m *Manager) replace(e *entry) {
	m.mu.Lock()
	m.entries[e.src.Name] = e
	m.mu.Unlock()
}

// Remove stops a source and disconnects its readers.
func (m *Manager) Remove(name string) error {
	m.ops.Lock()
	defer m.ops.Unlock()
	e, ok := m.lookup(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err := m.persist(name, nil); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.entries, name)
	m.mu.Unlock()
	m.stopEntry(e)
	if m.opts.Metrics != nil {
		m.opts.Metrics.Forget(name)
	}
	m.log.Info("source removed", "name", name)
	return nil
}

func (m *Manager) stopEntry(e *entry) {
	for _, p := range m.opts.Publishers {
		p.Detach(e.src.Name)
	}
	e.pipeline.Stop()
	if e.stage != nil {
		e.stage.Close()
	}
	e.hub.Close()
	e.jpeg.Close()
}

// Close stops every source, in parallel, and waits for them.
func (m *Manager) Close() {
	m.ops.Lock()
	defer m.ops.Unlock()
	m.mu.Lock()
	m.closed = true
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

// JPEG returns a source's JPEG hub, for MJPEG and snapshots.
func (m *Manager) JPEG(name string) (*mjpeg.Hub, bool) {
	e, ok := m.lookup(name)
	if !ok {
		return nil, false
	}
	return e.jpeg, true
}

func (m *Manager) lookup(name string) (*entry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.entries[name]
	return e, ok
}

func (m *Manager) isClosed() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.closed
}

// validate applies the API's URL policy: local sources only when allowed.
func (m *Manager) validate(src *config.Source) error {
	if err := src.Validate(m.opts.Config.APILocalSources); err != nil {
		return err
	}
	return m.opts.Config.CheckModelFiles(src.Vision, nil)
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

package manager

import (
	"encoding/json"
	"fmt"

	"github.com/visiongate/visiongate/gateway/config"
)

// Add validates and starts a source given through the API. Nothing is
// started unless the state file took it.
func (m *Manager) Add(src config.Source) (Status, error) {
	if err := m.validate(&src); err != nil {
		return Status{}, err
	}
	end, ok := m.begin(src.Name)
	if !ok {
		return Status{}, ErrClosed
	}
	defer end()
	if _, ok := m.lookup(src.Name); ok {
		return Status{}, fmt.Errorf("%w: %s", ErrExists, src.Name)
	}
	release, err := m.reserve()
	if err != nil {
		return Status{}, err
	}
	defer release()
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
// on the same hub, so readers stay connected. On any error the old
// source keeps running unchanged.
func (m *Manager) Update(name string, patch json.RawMessage) (Status, error) {
	end, ok := m.begin(name)
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	defer end()
	e, ok := m.lookup(name)
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	src, err := m.patched(e, patch)
	if err != nil {
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
		m.undoStage(e, stage)
		return Status{}, err
	}
	e.pipeline.Stop()
	if e.stage != nil && stage == nil {
		e.stage.Close()
	}
	// The egress policy follows the URL: an operator's URL stays exempt
	// when only other fields change.
	next := &entry{src: src, fromAPI: e.fromAPI || src.URL != e.src.URL, hub: e.hub, jpeg: e.jpeg, stage: stage}
	next.pipeline = m.newPipeline(src, next)
	next.auto = e.auto
	m.replace(next)
	if !src.Publish() {
		m.endPublisher(name) // no longer a publish source
	}
	next.pipeline.Start()
	m.log.Info("source changed", "name", name)
	return m.status(next), nil
}

// patched applies and checks a patch of e's source.
func (m *Manager) patched(e *entry, patch json.RawMessage) (config.Source, error) {
	src, err := applyPatch(e.src, patch)
	if err != nil {
		return src, err
	}
	if src.Name != e.src.Name {
		return src, &config.ValidationError{Field: "name", Reason: "cannot be changed"}
	}
	// An unchanged URL (or ca_file) passed the policy when it was added.
	return src, m.opts.Config.ValidateAPISource(&src, &e.src)
}

// reserve takes one of limits.sources' slots for a source being added
// (Adds of different names run at once); release gives it back, after
// start has counted the source in entries.
func (m *Manager) reserve() (release func(), err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.opts.Config.CheckSourceCount(len(m.entries) + m.reserved); err != nil {
		return nil, err
	}
	m.reserved++
	return func() {
		m.mu.Lock()
		m.reserved--
		m.mu.Unlock()
	}, nil
}

// undoStage puts the stage back as it was after a change failed to
// persist: a stage made for the change is closed, an updated one gets its
// old settings back.
func (m *Manager) undoStage(e *entry, stage Stage) {
	switch {
	case stage == nil:
	case e.stage == nil:
		stage.Close()
	case e.src.VisionOn():
		_ = e.stage.Update(*e.src.Vision) // accepted before: cannot fail
	}
}

// updateVision applies a detector change without touching the video.
func (m *Manager) updateVision(e *entry, src config.Source) (Status, error) {
	if err := e.stage.Update(*src.Vision); err != nil {
		return Status{}, err
	}
	if err := m.persist(src.Name, &src); err != nil {
		m.undoStage(e, e.stage)
		return Status{}, err
	}
	next := *e
	next.src = src
	m.replace(&next)
	m.log.Info("source detector changed", "name", src.Name, "detector", src.Vision.Detector)
	return m.status(&next), nil
}

func (m *Manager) replace(e *entry) {
	m.mu.Lock()
	m.entries[e.src.Name] = e
	m.mu.Unlock()
}

// Remove stops a source and disconnects its readers. A source from the
// config file stays deleted across restarts (see tombstone).
func (m *Manager) Remove(name string) error {
	end, ok := m.begin(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	defer end()
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
	m.endPublisher(name)
	if m.opts.Metrics != nil {
		m.opts.Metrics.Forget(name)
	}
	m.log.Info("source removed", "name", name)
	return nil
}

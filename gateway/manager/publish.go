package manager

import (
	"fmt"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/publish"
)

// PublishPolicy tells the broker whether name is a publish source.
func (m *Manager) PublishPolicy(name string) (publish.Policy, bool) {
	e, ok := m.lookup(name)
	if !ok || !e.src.Publish() {
		return publish.Policy{}, false
	}
	return publish.Policy{Override: e.src.Override, Auto: e.auto}, true
}

// AddPublished creates a publish source for a publisher that pushed to a
// name with none (auto_publish). It has the default settings and is
// never saved: it lives as long as its publisher.
func (m *Manager) AddPublished(name string) error {
	src := config.Source{Name: name, URL: config.PublishURL}
	if err := m.validate(&src); err != nil {
		return err
	}
	end, ok := m.begin(name)
	if !ok {
		return ErrClosed
	}
	defer end()
	if _, ok := m.lookup(name); ok {
		return fmt.Errorf("%w: %s", ErrExists, name)
	}
	release, err := m.reserve()
	if err != nil {
		return err
	}
	defer release()
	stage, err := m.makeStage(src)
	if err != nil {
		return err
	}
	m.launch(&entry{src: src, stage: stage, auto: true})
	return nil
}

// RemovePublished removes a source that auto_publish created, once its
// publisher has left.
func (m *Manager) RemovePublished(name string) {
	end, ok := m.begin(name)
	if !ok {
		return
	}
	defer end()
	e, ok := m.lookup(name)
	if !ok || !e.auto {
		return
	}
	m.mu.Lock()
	delete(m.entries, name)
	m.mu.Unlock()
	m.stopEntry(e)
	if m.opts.Metrics != nil {
		m.opts.Metrics.Forget(name)
	}
	m.log.Info("published source removed", "name", name)
}

// endPublisher disconnects the publisher of a source that no longer
// takes one.
func (m *Manager) endPublisher(name string) {
	if m.opts.Publish != nil {
		m.opts.Publish.Remove(name)
	}
}

package manager

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/visiongate/visiongate/gateway/config"
)

// tombstone records a config-file source deleted through the API.
//
// The deletion rule: deleting a source that the config file defines is
// written to the state file as a tombstone holding a fingerprint of that
// config definition, so the source stays deleted across restarts. It comes
// back when the API adds a source of that name again (which clears the
// tombstone), or when the config file re-adds it: a config definition that
// differs from the deleted one, or a name that left the config file, drops
// the tombstone at the next start. Deleting a source the config file does
// not define leaves no tombstone.
type tombstone struct {
	Name string `json:"name"`
	// Config fingerprints the deleted config definition (fingerprint).
	Config string `json:"config"`
}

// fingerprint identifies a config definition without repeating it (and
// its credentials) in the state file.
func fingerprint(s config.Source) string {
	b, err := json.Marshal(s)
	if err != nil {
		b = []byte(s.Name) // cannot happen: Source marshals
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// restore reads the state file. A name saved twice keeps its first entry
// (the others are refused with an error naming the source); tombstones
// that no longer match the config file are dropped, and the file is
// rewritten without them. It returns the saved sources to start and the
// config sources that stay deleted.
func (m *Manager) restore() ([]config.Source, map[string]bool, error) {
	doc, err := m.state.load()
	if err != nil {
		return nil, nil, err
	}
	doc.Sources = m.dedupe(doc.Sources)
	live := m.liveTombstones(doc.Deleted)
	stale := len(live) != len(doc.Deleted)
	doc.Deleted = live
	m.saved = doc
	if stale {
		if err := m.state.write(doc); err != nil {
			m.log.Warn("state file: could not drop stale deletions", "err", err)
		}
	}
	deleted := map[string]bool{}
	for _, t := range live {
		deleted[t.Name] = true
	}
	return doc.Sources, deleted, nil
}

// dedupe keeps the first source of each name.
func (m *Manager) dedupe(sources []config.Source) []config.Source {
	seen := map[string]bool{}
	kept := make([]config.Source, 0, len(sources))
	for _, s := range sources {
		if seen[s.Name] {
			m.log.Error("state file: refusing a duplicate source, keeping the first", "name", s.Name)
			continue
		}
		seen[s.Name] = true
		kept = append(kept, s)
	}
	return kept
}

// liveTombstones returns the tombstones whose config definition is still
// the one that was deleted.
func (m *Manager) liveTombstones(all []tombstone) []tombstone {
	var live []tombstone
	for _, t := range all {
		c, ok := m.configSource(t.Name)
		switch {
		case !ok:
			m.log.Info("state file: deleted source left the config file", "name", t.Name)
		case fingerprint(c) != t.Config:
			m.log.Info("state file: deleted source changed in the config file, running it again", "name", t.Name)
		default:
			live = append(live, t)
		}
	}
	return live
}

// configSource returns the config file's definition of name.
func (m *Manager) configSource(name string) (config.Source, bool) {
	if m.opts.Config == nil {
		return config.Source{}, false
	}
	for _, s := range m.opts.Config.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return config.Source{}, false
}

package manager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/visiongate/visiongate/gateway/config"
)

// ErrClosed is returned by changes made after Close.
var ErrClosed = errors.New("manager closed")

// ErrSaveState wraps a failure to write the state file; the change that
// needed it was not applied.
var ErrSaveState = errors.New("saving state")

// stateStore keeps the state document; stateFile is the real one.
type stateStore interface {
	load() (stateDoc, error)
	write(stateDoc) error
}

// stateFile holds the sources added or changed through the API, and the
// config sources deleted through it. It is rewritten whole and atomically
// (temp file, fsync, rename, fsync dir) so a crash at any moment leaves
// either the old or the new content.
type stateFile struct {
	path string
}

type stateDoc struct {
	Sources []config.Source `json:"sources"`
	Deleted []tombstone     `json:"deleted,omitempty"`
}

// without returns a copy of d with nothing left under name: neither a
// source nor a tombstone.
func (d stateDoc) without(name string) stateDoc {
	next := stateDoc{Sources: make([]config.Source, 0, len(d.Sources)+1)}
	for _, s := range d.Sources {
		if s.Name != name {
			next.Sources = append(next.Sources, s)
		}
	}
	for _, t := range d.Deleted {
		if t.Name != name {
			next.Deleted = append(next.Deleted, t)
		}
	}
	return next
}

func (f *stateFile) load() (stateDoc, error) {
	if f.path == "" {
		return stateDoc{}, nil
	}
	data, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return stateDoc{}, nil
	}
	if err != nil {
		return stateDoc{}, fmt.Errorf("state file: %w", err)
	}
	var doc stateDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return stateDoc{}, fmt.Errorf("state file %s: %w", f.path, err)
	}
	return doc, nil
}

// persist replaces (src != nil) or removes (src == nil) one source in the
// state file. Removing a source the config file defines leaves a
// tombstone; adding one clears its tombstone. Nothing changes in memory
// unless the file was written.
func (m *Manager) persist(name string, src *config.Source) error {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	next := m.saved.without(name)
	if src != nil {
		next.Sources = append(next.Sources, *src)
	} else if c, ok := m.configSource(name); ok {
		next.Deleted = append(next.Deleted, tombstone{Name: name, Config: fingerprint(c)})
	}
	if err := m.state.write(next); err != nil {
		return fmt.Errorf("%w: %w", ErrSaveState, err)
	}
	m.saved = next
	return nil
}

func (f *stateFile) write(doc stateDoc) error {
	if f.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// applyPatch applies a JSON merge patch (RFC 7386) to a source. Unknown
// fields are rejected.
func applyPatch(src config.Source, patch json.RawMessage) (config.Source, error) {
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return src, &config.ValidationError{Field: "body", Reason: "must be a JSON object"}
	}
	cur, err := json.Marshal(src)
	if err != nil {
		return src, err
	}
	var doc map[string]any
	if err := json.Unmarshal(cur, &doc); err != nil {
		return src, err
	}
	merged, err := json.Marshal(mergePatch(doc, p))
	if err != nil {
		return src, err
	}
	var out config.Source
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return src, &config.ValidationError{Field: "body", Reason: err.Error()}
	}
	return out, nil
}

func mergePatch(doc, patch map[string]any) map[string]any {
	for k, v := range patch {
		if v == nil {
			delete(doc, k)
			continue
		}
		if pv, ok := v.(map[string]any); ok {
			if dv, ok := doc[k].(map[string]any); ok {
				doc[k] = mergePatch(dv, pv)
				continue
			}
			doc[k] = mergePatch(map[string]any{}, pv)
			continue
		}
		doc[k] = v
	}
	return doc
}

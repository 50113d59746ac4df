package webrtc

import (
	"context"
	"sync"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
)

// path is one attached source and its sessions. Its goroutine only waits
// for the path to stop, then for every session to end.
type path struct {
	output.Life
	name string
	hub  *hub.Hub

	mu      sync.Mutex
	viewers map[string]*viewer // by session id
}

func newPath(parent context.Context, name string, h *hub.Hub) *path {
	p := &path{name: name, hub: h, viewers: make(map[string]*viewer)}
	p.Init(parent, &p.mu)
	return p
}

// run returns once the path is stopped and all its sessions are gone.
// The sessions' contexts derive from the path's, so they are ending.
func (p *path) run() {
	<-p.Context().Done()
	p.End()
	for _, v := range p.snapshot() {
		<-v.done
	}
}

func (p *path) snapshot() []*viewer {
	p.mu.Lock()
	defer p.mu.Unlock()
	vs := make([]*viewer, 0, len(p.viewers))
	for _, v := range p.viewers {
		vs = append(vs, v)
	}
	return vs
}

// add counts v unless the path is going away (errGone) or already has max
// sessions (errFull, 0: no limit); check and add are one step, so
// concurrent offers cannot overshoot.
func (p *path) add(v *viewer, max int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.EndedLocked() || p.Context().Err() != nil:
		return errGone
	case max > 0 && len(p.viewers) >= max:
		return errFull
	}
	p.viewers[v.id] = v
	return nil
}

func (p *path) remove(v *viewer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.viewers[v.id] == v {
		delete(p.viewers, v.id)
	}
}

// publish makes a set-up session visible to PATCH and DELETE; the lock
// orders its setup before their reads.
func (p *path) publish(v *viewer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v.ready = true
}

// lookup returns the published session id, or nil.
func (p *path) lookup(id string) *viewer {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.viewers[id]; v != nil && v.ready {
		return v
	}
	return nil
}

func (p *path) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.viewers)
}

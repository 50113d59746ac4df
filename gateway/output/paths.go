package output

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
)

// ValidName reports whether name can be served as a path: a source name,
// one URL segment.
func ValidName(name string) bool { return config.ValidName(name) }

// Path is an output's per-source path type: a struct that embeds Life.
type Path interface{ life() *Life }

// Paths is an output's attached paths by source name. The zero value is
// ready to use; the methods are safe for concurrent use.
type Paths[P Path] struct {
	mu     sync.Mutex
	ctx    context.Context // parent of every path's context
	cancel context.CancelFunc
	paths  map[string]attached[P]
	start  func(P) func() // nil until Start
	closed bool
	wg     sync.WaitGroup // the paths' goroutines
}

type attached[P any] struct {
	hub  *hub.Hub
	path P
}

// Attach serves h under name with the path newPath makes from the parent
// context it is given. A path attached under name for another hub is
// replaced and stopped; one for h is kept, and so are its clients. After
// Close, Attach does nothing.
func (ps *Paths[P]) Attach(name string, h *hub.Hub, newPath func(parent context.Context) P) {
	if old, ok := ps.swap(name, h, newPath); ok {
		old.life().Stop() // unlocked: it waits for the old goroutine
	}
}

// swap installs a new path for h under name and returns the one it
// replaced, if any.
func (ps *Paths[P]) swap(name string, h *hub.Hub, newPath func(context.Context) P) (P, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var none P
	if ps.closed {
		return none, false
	}
	if ps.ctx == nil {
		ps.ctx, ps.cancel = context.WithCancel(context.Background())
		ps.paths = make(map[string]attached[P])
	}
	old, ok := ps.paths[name]
	if ok && old.hub == h {
		return none, false
	}
	p := newPath(ps.ctx)
	ps.paths[name] = attached[P]{hub: h, path: p}
	if ps.start != nil {
		ps.goLocked(p)
	}
	return old.path, ok
}

// Start starts the attached paths, and from now on each one Attach adds.
// start prepares a path and returns the body of its goroutine; it runs
// under the registry's lock, so each path starts once, before Attach
// returns, and a path stopped before Start never starts.
func (ps *Paths[P]) Start(start func(P) (run func())) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.start = start
	for _, a := range ps.paths {
		ps.goLocked(a.path)
	}
}

func (ps *Paths[P]) goLocked(p P) {
	l := p.life()
	run := ps.start(p)
	l.started.Store(true)
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		defer close(l.done)
		run()
	}()
}

// Detach stops the path attached under name and waits for its goroutine.
func (ps *Paths[P]) Detach(name string) {
	ps.mu.Lock()
	a, ok := ps.paths[name]
	delete(ps.paths, name)
	ps.mu.Unlock()
	if ok {
		a.path.life().Stop()
	}
}

// Lookup returns the path attached under name, or the zero P.
func (ps *Paths[P]) Lookup(name string) P {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.paths[name].path
}

// Close stops every path and waits for all their goroutines, those that
// Attach or Detach are stopping included. Calling it again does nothing.
func (ps *Paths[P]) Close() {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return
	}
	ps.closed = true
	paths := ps.paths
	ps.paths = nil
	if ps.cancel != nil {
		ps.cancel() // wakes every Wait at once, before the stops
	}
	ps.mu.Unlock()
	for _, a := range paths {
		a.path.life().Stop()
	}
	ps.wg.Wait()
}

// Life is what every output's path shares: the context its goroutine
// serves under, Stop, and a broadcast of changes to the path's state,
// which the path guards with its own mutex (given to Init). Embed it.
type Life struct {
	mu      sync.Locker
	ctx     context.Context // cancelled by Stop
	cancel  context.CancelFunc
	done    chan struct{} // closed when the goroutine returns
	started atomic.Bool
	changed chan struct{} // under mu: closed at the next broadcast; nil while unwatched
	ended   bool          // under mu: the goroutine is done serving
}

func (l *Life) life() *Life { return l }

// Init prepares l for a new path whose state mu guards.
func (l *Life) Init(parent context.Context, mu sync.Locker) {
	l.mu = mu
	l.ctx, l.cancel = context.WithCancel(parent)
	l.done = make(chan struct{})
}

// Context is cancelled when the path is stopped.
func (l *Life) Context() context.Context { return l.ctx }

// Stop cancels the path and, if its goroutine was started, waits for it.
func (l *Life) Stop() {
	l.cancel()
	if l.started.Load() {
		<-l.done
	}
}

// End marks the path as done serving: Wait returns its gone error from
// now on. The path's goroutine calls it on its way out.
func (l *Life) End() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	l.BroadcastLocked()
}

// EndedLocked reports whether End was called; the path's mutex is held.
func (l *Life) EndedLocked() bool { return l.ended }

// BroadcastLocked wakes every Wait to look at the path's state again; the
// path's mutex is held.
func (l *Life) BroadcastLocked() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// ChangedLocked returns a channel closed at the next broadcast; the path's
// mutex is held.
func (l *Life) ChangedLocked() <-chan struct{} {
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// Wait calls ready under the path's mutex, and again after each broadcast,
// until it returns ok or an error. It returns gone once the path has ended
// or is stopped, and context.Cause(ctx) if ctx ends first, so that a
// caller's timeout carries the caller's error.
func Wait[T any](ctx context.Context, l *Life, gone error, ready func() (T, bool, error)) (T, error) {
	var none T
	for {
		l.mu.Lock()
		v, ok, err := ready()
		ended, changed := l.ended, l.ChangedLocked()
		l.mu.Unlock()
		switch {
		case ended:
			return none, gone
		case err != nil:
			return none, err
		case ok:
			return v, nil
		}
		select {
		case <-changed:
		case <-l.ctx.Done():
			return none, gone
		case <-ctx.Done():
			return none, context.Cause(ctx)
		}
	}
}

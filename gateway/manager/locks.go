package manager

import "sync"

// nameLocks gives each source name its own mutex, so a slow change of one
// source (stopping a pipeline waits for its camera to hang up) never holds
// up a change of another. A mutex nobody holds or waits for is dropped.
type nameLocks struct {
	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	sync.Mutex
	refs int // holders and waiters
}

// lock takes name's mutex and returns the function that releases it.
func (l *nameLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*nameLock{}
	}
	nl := l.locks[name]
	if nl == nil {
		nl = &nameLock{}
		l.locks[name] = nl
	}
	nl.refs++
	l.mu.Unlock()
	nl.Lock()
	return func() {
		nl.Unlock()
		l.mu.Lock()
		if nl.refs--; nl.refs == 0 {
			delete(l.locks, name)
		}
		l.mu.Unlock()
	}
}

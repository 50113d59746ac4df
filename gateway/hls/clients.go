package hls

import (
	"sync"
	"time"
)

// maxClients bounds the per-path client table so that a flood of distinct
// User-Agents cannot grow it without limit; Readers saturates there.
const maxClients = 4096

// clientSet remembers when each client (remote IP + User-Agent) last made a
// request. HLS has no session, so this is the usual approximation.
type clientSet struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (c *clientSet) seen(now time.Time, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = make(map[string]time.Time)
	}
	if _, ok := c.last[key]; !ok && len(c.last) >= maxClients {
		c.pruneLocked(now)
		if len(c.last) >= maxClients {
			return
		}
	}
	c.last[key] = now
}

// count returns the clients seen within ReaderWindow of now.
func (c *clientSet) count(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked(now)
	return len(c.last)
}

func (c *clientSet) pruneLocked(now time.Time) {
	for k, t := range c.last {
		if now.Sub(t) > ReaderWindow {
			delete(c.last, k)
		}
	}
}

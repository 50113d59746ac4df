package mqtt

import (
	"cmp"
	"slices"
	"strconv"
	"sync"

	"github.com/visiongate/visiongate/media"
)

// kind orders retained messages: availability first, then the discovery
// configs, then the counts their sensors read.
type kind int

const (
	kindAvailability kind = iota
	kindDiscovery
	kindCount
)

// entry is the latest retained payload of one topic. Only the latest value
// matters, so changes coalesce instead of queueing; dirty ones are sent
// when connected and every one is sent again after a reconnection.
type entry struct {
	kind    kind
	payload []byte // empty: clear the retained message, then forget the entry
	dirty   bool
	version uint64 // changes with payload, so a send of an old value doesn't clear dirty
}

// pending is a dirty entry handed to the sender.
type pending struct {
	topic   string
	kind    kind
	payload []byte
	version uint64
	gen     uint64
}

// countKey names one count of a source: zone level ("all" for the objects
// now) and label level.
type countKey struct{ zone, label string }

// countVal is a count with the names to show in Home Assistant.
type countVal struct {
	n           int
	zone, label string
}

// state holds every retained message the publisher owns. Publish updates
// it from the vision workers; the sender goroutine drains it.
type state struct {
	topics topics

	mu      sync.Mutex
	entries map[string]*entry
	sources map[string]map[countKey]int // by source level
	seq     uint64
	gen     uint64 // bumped per connection: a send on an old one doesn't count
}

func newState(t topics) *state {
	s := &state{topics: t, entries: map[string]*entry{}, sources: map[string]map[countKey]int{}}
	s.put(t.availability(), []byte(payloadOnline), kindAvailability)
	return s
}

// put sets a topic's payload and marks it for sending. Callers hold mu.
func (s *state) put(topic string, payload []byte, k kind) {
	e := s.entries[topic]
	if e == nil {
		e = &entry{kind: k}
		s.entries[topic] = e
	}
	s.seq++
	e.payload, e.dirty, e.version = payload, true, s.seq
}

// tally sums a Counts by sanitised levels (two labels may share one).
func tally(c *media.Counts) map[countKey]countVal {
	out := make(map[countKey]countVal, len(c.Objects))
	add := func(zoneLvl, zone, label string, n int) {
		k := countKey{zoneLvl, TopicLevel(label)}
		v, ok := out[k]
		if !ok {
			v.zone, v.label = zone, label
		}
		v.n += n
		out[k] = v
	}
	for label, n := range c.Objects {
		add(allLevel, allLevel, label, n)
	}
	for zone, labels := range c.Zones {
		zl := zoneLevel(zone)
		for label, n := range labels {
			add(zl, zone, label, n)
		}
	}
	return out
}

// setCounts records a source's counts; labels that are gone count 0.
// It reports whether anything is to be sent.
func (s *state) setCounts(source string, c *media.Counts) bool {
	next := tally(c)
	src := TopicLevel(source)
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := s.sources[src]
	if counts == nil {
		counts = map[countKey]int{}
		s.sources[src] = counts
	}
	changed := false
	for k, v := range next {
		old, seen := counts[k]
		if seen && old == v.n {
			continue
		}
		if !seen {
			s.put(s.topics.discovery(src, k), discoveryConfig(s.topics, source, src, k, v), kindDiscovery)
		}
		counts[k] = v.n
		s.put(s.topics.count(src, k), []byte(strconv.Itoa(v.n)), kindCount)
		changed = true
	}
	for k, old := range counts {
		if _, ok := next[k]; !ok && old != 0 {
			counts[k] = 0
			s.put(s.topics.count(src, k), []byte("0"), kindCount)
			changed = true
		}
	}
	return changed
}

// forget clears a source's retained counts and discovery configs.
func (s *state) forget(source string) bool {
	src := TopicLevel(source)
	s.mu.Lock()
	defer s.mu.Unlock()
	counts, ok := s.sources[src]
	if !ok {
		return false
	}
	for k := range counts {
		s.put(s.topics.count(src, k), nil, kindCount)
		s.put(s.topics.discovery(src, k), nil, kindDiscovery)
	}
	delete(s.sources, src)
	return len(counts) > 0
}

// markAllDirty schedules every entry again: after a reconnection the broker
// may have lost its retained messages.
func (s *state) markAllDirty() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for _, e := range s.entries {
		e.dirty = true
	}
}

// dirty returns the entries to send, in kind then topic order.
func (s *state) dirty() []pending {
	s.mu.Lock()
	var out []pending
	for topic, e := range s.entries {
		if e.dirty {
			out = append(out, pending{topic, e.kind, e.payload, e.version, s.gen})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b pending) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.topic, b.topic))
	})
	return out
}

// sent records that p reached the broker; a cleared topic is forgotten.
func (s *state) sent(p pending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[p.topic]
	if e == nil || e.version != p.version || p.gen != s.gen {
		return // changed or reconnected meanwhile: still dirty
	}
	e.dirty = false
	if len(e.payload) == 0 {
		delete(s.entries, p.topic)
	}
}

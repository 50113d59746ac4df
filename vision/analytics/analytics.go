package analytics

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/track"
)

// Analytics follows the tracks of one source through zones and lines. It
// is safe for concurrent use (Counts is usually read by another goroutine
// than the one calling Update).
type Analytics struct {
	mu     sync.Mutex
	source string
	every  time.Duration
	zones  []zone
	lines  []line
	tracks map[uint64]*state
	gen    uint64 // updates so far; marks the states seen by this one
	counts media.Counts
	// Events of this update by phase, reused between updates.
	news, mids, lasts []media.Event
}

// state is what Analytics remembers of one confirmed track.
type state struct {
	label   string // as first seen: filters and occupancy stay consistent
	last    track.Track
	gen     uint64
	emitted time.Time // time of the last new or update event
	zones   []zoneState
	lines   []lineState
}

type zoneState struct {
	active bool // the label passes the zone's filter
	inside bool
	streak int // consecutive results on the other side of the edge
}

type lineState struct {
	active bool
	side   int8  // side of at, 0 before the first position off the line
	at     point // last position strictly off the line
}

// New returns the Analytics of source for cfg with defaults applied; check
// cfg with Validate first. It keeps copies of the zones and lines.
func New(source string, cfg Config) *Analytics {
	cfg = cfg.WithDefaults()
	a := &Analytics{
		source: source, every: cfg.UpdateEvery, tracks: map[uint64]*state{},
		counts: media.Counts{Objects: map[string]int{}, Zones: map[string]map[string]int{},
			Lines: map[string]media.LineCount{}},
	}
	for _, z := range cfg.Zones {
		a.zones = append(a.zones, newZone(z))
		occ := map[string]int{}
		for _, l := range z.Labels {
			occ[l] = 0 // consumers see the labels they asked for
		}
		a.counts.Zones[z.Name] = occ
	}
	for _, l := range cfg.Lines {
		a.lines = append(a.lines, line{name: l.Name, from: l.From, to: l.To, labels: slices.Clone(l.Labels)})
		a.counts.Lines[l.Name] = media.LineCount{}
	}
	return a
}

// Update turns one tracker update (for the frame sampled at `at`, output
// timestamp pts) into events, ordered: every new, then enter, cross and
// update per track, then exit and end; by track ID within each phase.
//
// A track missing from u that was not reported ended (the tracker was
// replaced, say) is ended as if it were, so no state or occupancy leaks.
func (a *Analytics) Update(at time.Time, pts int64, u track.Update) []media.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	a.news, a.mids, a.lasts = a.news[:0], a.mids[:0], a.lasts[:0]
	clear(a.counts.Objects)
	for _, tr := range u.Tracks {
		if s := a.tracks[tr.ID]; s != nil && s.gen == a.gen {
			continue // the same id twice in one update: the tracker never sends that
		}
		a.counts.Objects[tr.Label]++
		a.observe(tr, at, pts)
	}
	for _, tr := range u.Ended {
		a.end(tr, at, pts)
	}
	a.sweep(at, pts)
	out := make([]media.Event, 0, len(a.news)+len(a.mids)+len(a.lasts))
	out = append(append(append(out, a.news...), a.mids...), a.lasts...)
	return out
}

// observe handles one alive track.
func (a *Analytics) observe(tr track.Track, at time.Time, pts int64) {
	s := a.tracks[tr.ID]
	fresh := s == nil
	if fresh {
		s = a.newState(tr)
		a.tracks[tr.ID] = s
		a.news = append(a.news, a.event(media.EventNew, tr, at, pts))
		s.emitted = at
	}
	s.last, s.gen = tr, a.gen
	// A lost track's box is where it was last seen, not where it is: it
	// neither moves nor counts as a result inside or outside a zone.
	if !tr.Matched {
		return
	}
	p := anchor(tr.Box)
	a.zoneMoves(s, tr, p, at, pts)
	a.lineMoves(s, tr, p, at, pts)
	if !fresh && at.Sub(s.emitted) >= a.every {
		a.mids = append(a.mids, a.event(media.EventUpdate, tr, at, pts))
		s.emitted = at
	}
}

func (a *Analytics) newState(tr track.Track) *state {
	s := &state{label: tr.Label, zones: make([]zoneState, len(a.zones)), lines: make([]lineState, len(a.lines))}
	for i := range a.zones {
		s.zones[i].active = passes(a.zones[i].labels, tr.Label)
	}
	for i := range a.lines {
		s.lines[i].active = passes(a.lines[i].labels, tr.Label)
	}
	return s
}

// zoneMoves flips a track in or out of each zone once its anchor has been
// on the other side for MinFrames results in a row.
func (a *Analytics) zoneMoves(s *state, tr track.Track, p point, at time.Time, pts int64) {
	for i := range a.zones {
		z, zs := &a.zones[i], &s.zones[i]
		if !zs.active {
			continue
		}
		if z.contains(p) == zs.inside {
			zs.streak = 0
			continue
		}
		if zs.streak++; zs.streak < z.minFrames {
			continue
		}
		zs.inside, zs.streak = !zs.inside, 0
		if zs.inside {
			a.occupy(z, s.label, 1)
			a.mids = append(a.mids, a.zoneEvent(media.EventEnter, tr, z.name, at, pts))
		} else {
			a.occupy(z, s.label, -1)
			a.lasts = append(a.lasts, a.zoneEvent(media.EventExit, tr, z.name, at, pts))
		}
	}
}

// lineMoves counts a crossing when the anchor goes from one side of a line
// to the other through the segment. Positions exactly on the line are
// skipped, so an anchor that touches the line and comes back counts
// nothing, and one that touches it and goes on counts once.
func (a *Analytics) lineMoves(s *state, tr track.Track, p point, at time.Time, pts int64) {
	for i := range a.lines {
		l, ls := &a.lines[i], &s.lines[i]
		side := l.side(p)
		if !ls.active || side == 0 {
			continue
		}
		if ls.side != 0 && side != ls.side && l.crosses(ls.at, p) {
			n := a.counts.Lines[l.name]
			e := a.event(media.EventCross, tr, at, pts)
			e.Line, e.Direction = l.name, media.DirectionIn
			if side < 0 {
				e.Direction = media.DirectionOut
				n.Out++
			} else {
				n.In++
			}
			a.counts.Lines[l.name] = n
			a.mids = append(a.mids, e)
		}
		ls.side, ls.at = side, p
	}
}

// occupy changes a zone's occupancy, dropping zero entries of labels the
// zone does not list.
func (a *Analytics) occupy(z *zone, label string, d int) {
	occ := a.counts.Zones[z.name]
	occ[label] += d
	if occ[label] == 0 && !slices.Contains(z.labels, label) {
		delete(occ, label)
	}
}

// end reports a track's exits from the zones it is in, then its end, and
// forgets it.
func (a *Analytics) end(tr track.Track, at time.Time, pts int64) {
	if s := a.tracks[tr.ID]; s != nil {
		for i := range a.zones {
			if s.zones[i].inside {
				a.occupy(&a.zones[i], s.label, -1)
				a.lasts = append(a.lasts, a.zoneEvent(media.EventExit, tr, a.zones[i].name, at, pts))
			}
		}
		delete(a.tracks, tr.ID)
	}
	e := a.event(media.EventEnd, tr, at, pts)
	e.Duration = tr.Updated.Sub(tr.FirstSeen).Seconds()
	e.BestScore = tr.BestScore
	best := tr.BestBox
	best.TrackID = tr.ID
	e.BestBox = &best
	a.lasts = append(a.lasts, e)
}

// sweep ends the tracks that this update neither listed nor ended.
func (a *Analytics) sweep(at time.Time, pts int64) {
	if len(a.tracks) == 0 {
		return
	}
	var gone []uint64
	for id, s := range a.tracks {
		if s.gen != a.gen {
			gone = append(gone, id)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		a.end(a.tracks[id].last, at, pts)
	}
}

func (a *Analytics) event(typ string, tr track.Track, at time.Time, pts int64) media.Event {
	b := tr.Box
	b.TrackID = tr.ID
	return media.Event{Type: typ, Source: a.source, TrackID: tr.ID, Label: tr.Label,
		Score: tr.Score, Box: b, Time: at, PTS: pts}
}

func (a *Analytics) zoneEvent(typ string, tr track.Track, name string, at time.Time, pts int64) media.Event {
	e := a.event(typ, tr, at, pts)
	e.Zone = name
	return e
}

// Counts returns a deep copy of the live tally.
func (a *Analytics) Counts() media.Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := media.Counts{
		Objects: maps.Clone(a.counts.Objects),
		Zones:   make(map[string]map[string]int, len(a.counts.Zones)),
		Lines:   maps.Clone(a.counts.Lines),
	}
	for name, occ := range a.counts.Zones {
		c.Zones[name] = maps.Clone(occ)
	}
	return c
}

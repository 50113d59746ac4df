package track

import (
	"math"
	"time"

	"github.com/visiongate/visiongate/media"
)

// maxCoord bounds the detections a Tracker accepts: no video is 16M pixels
// wide, and the bound keeps every float and int conversion exact.
const maxCoord = 1 << 24

// Track is one followed object as seen after an Update.
type Track struct {
	ID        uint64 // 1, 2, 3 ... per Tracker in order of confirmation
	Label     string
	ClassID   int
	Box       media.Box  // last matched detection, TrackID set to ID
	Score     float32    // score of the last match
	Matched   bool       // matched by this update
	Filtered  [4]float64 // Kalman state cx, cy, w, h at Updated
	Velocity  [4]float64 // d(cx,cy,w,h)/dt in pixels per second
	Updated   time.Time  // time of the last match
	FirstSeen time.Time
	Hits      int
	BestScore float32
	BestBox   media.Box
}

// Update is the outcome of one Tracker.Update; it belongs to the caller.
type Update struct {
	// Tracks holds every confirmed track still alive (matched now, or lost
	// for at most MaxAge), ordered by ID.
	Tracks []Track
	// Ended holds the confirmed tracks that ended at this update, ordered
	// by ID; tentative tracks die unreported.
	Ended []Track
}

// trk is a track with its filter and the bookkeeping of one Update.
type trk struct {
	Track
	kf   filter
	seen uint64     // number of the update that last matched it
	pred [4]float64 // predicted x1, y1, x2, y2 at this update
}

// Tracker follows objects through the results of one detector. It is not
// safe for concurrent use.
//
// IDs are handed out when a track is confirmed, not when it is born, so
// users see consecutive IDs even though many tentative tracks die young.
type Tracker struct {
	cfg       Config
	confirmed []trk // ordered by ID
	tentative []trk
	nextID    uint64
	n         uint64    // updates so far
	last      time.Time // time the filters were predicted to
	// Scratch reused between updates.
	dets  []media.Box
	cands []cand
	used  []bool
	pairs []pair
	ended []Track
}

// New returns a Tracker for cfg with defaults applied; check cfg with
// Validate first.
func New(cfg Config) *Tracker {
	return &Tracker{cfg: cfg.WithDefaults()}
}

// NewAfter is New with IDs continuing after lastID, so a source whose
// tracker is rebuilt (new settings) never hands out an ID twice.
func NewAfter(cfg Config, lastID uint64) *Tracker {
	t := New(cfg)
	t.nextID = lastID
	return t
}

// LastID is the most recent ID handed out (0 before the first).
func (t *Tracker) LastID() uint64 { return t.nextID }

// Update feeds the detections of the result for the frame sampled at
// `at`. Boxes are in source pixels and their TrackID is ignored; boxes
// with no area, absurd coordinates or a NaN score are dropped. A detection
// only matches a track of the same Label. Times should increase; one that
// does not predicts nothing.
func (t *Tracker) Update(at time.Time, dets []media.Box) Update {
	t.n++
	var dt float64
	if t.n > 1 && at.After(t.last) {
		dt = at.Sub(t.last).Seconds()
	}
	if t.n == 1 || at.After(t.last) {
		t.last = at
	}
	t.predict(dt)
	t.dets, t.cands, t.used = t.dets[:0], t.cands[:0], t.used[:0]
	for _, d := range dets {
		if valid(d) {
			t.dets = append(t.dets, d)
			t.cands = append(t.cands, cand{corners(d), d.Score >= t.cfg.High})
			t.used = append(t.used, false)
		}
	}
	// Stage 1: high detections against every track.
	t.match(at, true, float64(t.cfg.IoU), func(*trk) bool { return true })
	// Stage 2: low detections keep confirmed tracks seen last time alive.
	prev := t.n - 1
	t.match(at, false, LowIoU, func(k *trk) bool { return k.ID != 0 && k.seen == prev })
	t.retire(at)
	t.promote()
	t.spawn(at)
	return t.output()
}

func valid(d media.Box) bool {
	return d.W > 0 && d.H > 0 && d.W <= maxCoord && d.H <= maxCoord &&
		d.X >= -maxCoord && d.X <= maxCoord && d.Y >= -maxCoord && d.Y <= maxCoord &&
		!math.IsNaN(float64(d.Score))
}

// predict moves every filter dt seconds ahead and caches its box.
func (t *Tracker) predict(dt float64) {
	for _, ks := range [2][]trk{t.confirmed, t.tentative} {
		for i := range ks {
			k := &ks[i]
			k.kf.predict(dt)
			w, h := max(k.kf[2].x, 1), max(k.kf[3].x, 1)
			cx, cy := k.kf[0].x, k.kf[1].x
			k.pred = [4]float64{cx - w/2, cy - h/2, cx + w/2, cy + h/2}
		}
	}
}

// track returns the i-th track, counting confirmed then tentative ones.
func (t *Tracker) track(i int) *trk {
	if i < len(t.confirmed) {
		return &t.confirmed[i]
	}
	return &t.tentative[i-len(t.confirmed)]
}

func (t *Tracker) numTracks() int { return len(t.confirmed) + len(t.tentative) }

// retire clears Matched on unmatched tracks and ends confirmed tracks
// unmatched for longer than MaxAge.
func (t *Tracker) retire(at time.Time) {
	t.ended = t.ended[:0]
	keep := t.confirmed[:0]
	for _, k := range t.confirmed {
		if k.seen != t.n {
			k.Matched = false
			// Like ByteTrack, a lost box keeps its size but not its
			// growth, which would run away without measurements.
			k.kf[2].v, k.kf[3].v = 0, 0
			if at.Sub(k.Updated) > t.cfg.MaxAge {
				t.ended = append(t.ended, k.Track)
				continue
			}
		}
		keep = append(keep, k)
	}
	clear(t.confirmed[len(keep):])
	t.confirmed = keep
}

// promote confirms tentative tracks with MinHits matches and drops those
// unmatched at this update.
func (t *Tracker) promote() {
	keep := t.tentative[:0]
	for _, k := range t.tentative {
		switch {
		case k.seen != t.n:
			continue
		case k.Hits >= t.cfg.MinHits:
			t.confirm(&k)
			t.confirmed = append(t.confirmed, k)
		default:
			keep = append(keep, k)
		}
	}
	clear(t.tentative[len(keep):])
	t.tentative = keep
}

func (t *Tracker) confirm(k *trk) {
	t.nextID++
	k.ID = t.nextID
	k.Box.TrackID = k.ID
	k.BestBox.TrackID = k.ID
}

// spawn starts a track for every unmatched high detection.
func (t *Tracker) spawn(at time.Time) {
	for j, d := range t.dets {
		if t.used[j] || !t.cands[j].high {
			continue
		}
		d.TrackID = 0
		k := trk{seen: t.n, Track: Track{
			Label: d.Label, ClassID: d.ClassID, Box: d, Score: d.Score,
			Matched: true, Updated: at, FirstSeen: at, Hits: 1,
			BestScore: d.Score, BestBox: d,
		}}
		k.kf.init(center(d))
		k.Filtered, k.Velocity = k.kf.state()
		if k.Hits >= t.cfg.MinHits {
			t.confirm(&k)
			t.confirmed = append(t.confirmed, k)
		} else {
			t.tentative = append(t.tentative, k)
		}
	}
}

// output copies the confirmed and ended tracks into one fresh slice, so
// the caller may keep the result while the Tracker goes on.
func (t *Tracker) output() Update {
	nc := len(t.confirmed)
	out := make([]Track, nc+len(t.ended))
	for i := range t.confirmed {
		out[i] = t.confirmed[i].Track
	}
	copy(out[nc:], t.ended)
	u := Update{Tracks: out[:nc:nc]}
	if len(t.ended) > 0 {
		u.Ended = out[nc:]
	}
	return u
}

// PredictAt extrapolates the filtered box to at along the velocity, at
// most horizon past Updated (and never before it), keeping the width and
// height at least 1. The other fields of Box are kept.
func (tr Track) PredictAt(at time.Time, horizon time.Duration) media.Box {
	dt := min(max(at.Sub(tr.Updated), 0), max(horizon, 0)).Seconds()
	var p [4]float64
	for i := range p {
		p[i] = tr.Filtered[i] + tr.Velocity[i]*dt
	}
	w, h := max(p[2], 1), max(p[3], 1)
	b := tr.Box
	b.X, b.Y = toInt(p[0]-w/2), toInt(p[1]-h/2)
	b.W, b.H = max(toInt(w), 1), max(toInt(h), 1)
	return b
}

// toInt rounds, clamping so that a runaway velocity cannot overflow.
func toInt(v float64) int {
	const lim = 1 << 30
	if math.IsNaN(v) {
		return 0
	}
	return int(math.Round(min(max(v, -lim), lim)))
}

package vision

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/track"
)

// Stage is one source's view of the pool: the pipeline calls Process on
// every frame; it samples frames for detection, and draws the latest boxes.
// Process never waits for a detector.
type Stage struct {
	pool *Pool
	name string

	removed atomic.Bool
	busy    atomic.Bool   // a detection is in flight
	gen     atomic.Uint64 // detector generation; written under mu

	// Guarded by pool.mu.
	pending, inflight *job

	bufs      chan []byte // recycled sample buffers
	ev        events
	closeOnce sync.Once

	mu        sync.Mutex
	cfg       Config
	failedGen uint64 // generation whose detector could not be built
	nextDue   time.Time
	frames    uint64
	shown     shown
	latest    *media.Detections
	st        counters
	fps, det  rateMeter
	runtime   RuntimeInfo
	tracking  *tracking // nil when the tracker is off
	lastID    uint64    // newest track id of earlier trackers
}

// shown is the result whose boxes are drawn.
type shown struct {
	boxes   []media.Box
	tracks  []track.Track // matched tracks: drawn where they are predicted to be
	counts  *media.Counts // the tally after this result (tracker on)
	w, h    int           // frame size they refer to
	at      time.Time     // result time; Hold counts from here
	sampled time.Time
	frameNo uint64
}

type counters struct {
	sampled, skipped, replaced, detections, errors uint64
	lastErr                                        string
	lastLat, avgLat, took                          time.Duration
}

// view is what Process needs from one locked look at the stage.
type view struct {
	due     bool
	cfg     Config
	gen     uint64
	frameNo uint64
	boxes   []media.Box
	bw, bh  int
	fps     float64
	dps     float64
	counts  *media.Counts
}

// NewStage registers a source named name with the pool.
func (p *Pool) NewStage(name string, cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	cfg.ClassFilter = slices.Clone(cfg.ClassFilter)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stage{pool: p, name: name, cfg: cfg, bufs: make(chan []byte, 3)}
	s.tracking = newTracking(name, cfg, 0)
	s.gen.Store(1)
	if err := p.register(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Name is the source name put into Detections.
func (s *Stage) Name() string { return s.name }

// Config returns the stage's current (defaulted) config.
func (s *Stage) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Process samples f for detection when due and draws the current boxes
// into f's planes. It only ever copies (a sampled frame) and draws.
func (s *Stage) Process(f *media.Frame) {
	v, now := s.observe(f)
	if len(v.boxes) == 0 && !v.cfg.Overlay && v.counts == nil {
		return
	}
	c, ok := newCanvas(f)
	if !ok {
		return
	}
	if v.counts != nil && hasGeometry(v.cfg) {
		drawGeometry(c, v.cfg.Analytics, v.counts)
	}
	if len(v.boxes) > 0 {
		drawBoxes(c, fitBoxes(v.boxes, v.bw, v.bh, f.Width, f.Height))
	}
	if v.cfg.Overlay {
		drawClock(c, now, v.fps, v.dps)
	}
}

// Observe samples f for detection like Process but draws nothing: for
// frames nobody will see, which then need not be made writable.
func (s *Stage) Observe(f *media.Frame) { s.observe(f) }

func (s *Stage) observe(f *media.Frame) (view, time.Time) {
	now := time.Now()
	v := s.look(now, f.PTS)
	if v.due {
		s.trySample(f, v, now)
	}
	return v, now
}

// look counts the frame, decides whether to sample it and picks the boxes
// to draw.
func (s *Stage) look(now time.Time, pts int64) view {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames++
	s.fps.add(now)
	v := view{cfg: s.cfg, gen: s.gen.Load(), frameNo: s.frames}
	if sh := s.shown; len(sh.boxes) > 0 && now.Sub(sh.at) < s.cfg.Hold {
		v.boxes, v.bw, v.bh = sh.boxes, sh.w, sh.h
		if len(sh.tracks) > 0 {
			v.boxes = predictBoxes(sh.tracks, pts, s.cfg.Hold)
		}
	}
	if v.cfg.Overlay {
		v.fps, v.dps = s.fps.rate(now), s.det.rate(now)
	}
	v.counts = s.shown.counts
	if v.counts == nil && s.tracking != nil && hasGeometry(v.cfg) {
		v.counts = &media.Counts{} // zero counts until the first result
	}
	v.due = s.dueLocked(now, v.gen)
	return v
}

// dueLocked applies the sampling rules: a detector, at most cfg.FPS per
// second, and nothing in flight for this source.
func (s *Stage) dueLocked(now time.Time, gen uint64) bool {
	if s.cfg.Detector == DetectorNone || s.failedGen == gen || s.removed.Load() {
		return false
	}
	if now.Before(s.nextDue) {
		return false
	}
	if s.busy.Load() {
		s.st.skipped++
		return false
	}
	period := time.Duration(float64(time.Second) / s.cfg.FPS)
	s.nextDue = s.nextDue.Add(period)
	if s.nextDue.Before(now.Add(-period)) {
		s.nextDue = now.Add(period) // after a pause: no burst to catch up
	}
	return true
}

func hasGeometry(cfg Config) bool {
	return len(cfg.Analytics.Zones) > 0 || len(cfg.Analytics.Lines) > 0
}

// TrySubmit hands f to the pool now, ignoring the FPS limit. It returns
// false, without waiting, when a detection of this source is in flight,
// no detector is set, or the frame cannot be copied.
func (s *Stage) TrySubmit(f *media.Frame) bool {
	now := time.Now()
	s.mu.Lock()
	v := view{cfg: s.cfg, gen: s.gen.Load(), frameNo: s.frames}
	ok := v.cfg.Detector != DetectorNone && s.failedGen != v.gen
	s.mu.Unlock()
	return ok && s.trySample(f, v, now)
}

func (s *Stage) trySample(f *media.Frame, v view, now time.Time) bool {
	if s.busy.Load() || s.pool.closedFlag.Load() {
		return false
	}
	smp, err := copyFrame(f, s.getBuf())
	if err != nil {
		s.noteErr(err, false, v.gen)
		return false
	}
	j := &job{
		stage: s, cfg: v.cfg, gen: v.gen, sample: smp,
		frameW: f.Width, frameH: f.Height, pts: f.PTS, sampled: now, frameNo: v.frameNo,
	}
	replaced, ok := s.pool.submit(j)
	if !ok {
		s.putBuf(smp.buf)
		return false
	}
	s.mu.Lock()
	s.st.sampled++
	if replaced != nil {
		s.st.replaced++
	}
	s.mu.Unlock()
	if replaced != nil {
		s.putBuf(replaced.sample.buf)
	}
	return true
}

func (s *Stage) getBuf() []byte {
	select {
	case b := <-s.bufs:
		return b
	default:
		return nil
	}
}

func (s *Stage) putBuf(b []byte) {
	select {
	case s.bufs <- b:
	default:
	}
}

// finish applies a worker's result (called on the worker goroutine) and
// returns the event to publish once the pool has marked the stage idle,
// so a subscriber that reacts to it can submit the next frame at once.
func (s *Stage) finish(j *job, res result) (media.Detections, bool) {
	defer s.putBuf(j.sample.buf)
	if res.err != nil {
		s.noteErr(res.err, res.build, j.gen)
		return media.Detections{}, false
	}
	now := time.Now()
	d := media.Detections{
		Source: s.name, Time: j.sampled, PTS: j.pts, Width: j.frameW, Height: j.frameH,
		Latency: now.Sub(j.sampled), Detector: j.cfg.Detector, Boxes: res.boxes,
	}
	s.mu.Lock()
	if j.gen != s.gen.Load() || s.removed.Load() {
		s.mu.Unlock()
		return media.Detections{}, false // the detector changed or the source left: a stale answer
	}
	var tracks []track.Track
	if s.tracking != nil {
		tracks = s.tracking.apply(&d, j.sampled)
	}
	s.shown = shown{boxes: d.Boxes, tracks: tracks, counts: d.Counts, w: d.Width, h: d.Height, at: now, sampled: j.sampled, frameNo: j.frameNo}
	s.latest = &d
	s.st.detections++
	s.st.lastLat, s.st.avgLat, s.st.took = d.Latency, ewma(s.st.avgLat, d.Latency), res.took
	s.det.add(now)
	s.mu.Unlock()
	return d, true
}

func (s *Stage) setRuntime(info RuntimeInfo) {
	s.mu.Lock()
	s.runtime = info
	s.mu.Unlock()
}

func (s *Stage) noteErr(err error, build bool, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.errors++
	s.st.lastErr = err.Error()
	if build && gen == s.gen.Load() {
		s.failedGen = gen
	}
}

// Update changes the config at runtime. A change of detector settings
// makes the workers rebuild this source's detector and drops the boxes
// drawn from the old one; FPS, Hold and Overlay apply at the next frame.
func (s *Stage) Update(cfg Config) error {
	cfg = cfg.WithDefaults()
	cfg.ClassFilter = slices.Clone(cfg.ClassFilter) // jobs share it: keep it ours
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	rebuild := !sameDetector(s.cfg, cfg)
	if rebuild {
		s.gen.Add(1)
		s.shown = shown{}
		s.failedGen = 0
		s.runtime = RuntimeInfo{}
	}
	if rebuild || !sameTracking(s.cfg, cfg) {
		// Ids go on where the old tracker stopped: none is ever reused.
		s.lastID = max(s.lastID, s.tracking.lastID())
		s.tracking = newTracking(s.name, cfg, s.lastID)
	}
	s.cfg = cfg
	s.nextDue = time.Time{}
	s.mu.Unlock()
	if rebuild {
		s.pool.changed() // workers free the old detector
	}
	return nil
}

// Subscribe returns a channel of every detection result of this source.
// Sends never wait: when the channel's buffer is full the event is dropped
// (counted in Stats.EventsDropped). cancel ends the subscription and
// closes the channel; Close closes all of them. Boxes are shared: read only.
func (s *Stage) Subscribe(buf int) (<-chan media.Detections, func()) {
	return s.ev.subscribe(buf)
}

// Latest returns the most recent detection result.
func (s *Stage) Latest() (media.Detections, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil {
		return media.Detections{}, false
	}
	d := *s.latest
	d.Boxes = append([]media.Box{}, d.Boxes...)
	return d, true
}

// Close unregisters the stage, waits (at most StageCloseWait) for its
// detection in flight and ends its subscriptions. Process stays safe to
// call (it only draws).
func (s *Stage) Close() error {
	s.closeOnce.Do(func() {
		s.pool.unregister(s)
		s.mu.Lock()
		s.shown = shown{}
		s.mu.Unlock()
		s.ev.close()
	})
	return nil
}

// Stats returns a snapshot of the stage's counters.
func (s *Stage) Stats() Stats {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Detector: s.cfg.Detector, Frames: s.frames, FPS: s.fps.rate(now),
		Sampled: s.st.sampled, SkippedBusy: s.st.skipped, Replaced: s.st.replaced,
		Detections: s.st.detections, DetectionsPerSec: s.det.rate(now),
		LastLatency: s.st.lastLat, AvgLatency: s.st.avgLat, DetectTime: s.st.took,
		Errors: s.st.errors, LastError: s.st.lastErr, EventsDropped: s.ev.dropped.Load(),
		Runtime: s.runtime,
	}
	if s.tracking != nil {
		c := s.tracking.counts()
		st.Counts = &c
	}
	if sh := s.shown; !sh.at.IsZero() && now.Sub(sh.at) < s.cfg.Hold {
		st.Boxes = len(sh.boxes)
		st.BoxAge = now.Sub(sh.sampled)
		st.BoxAgeFrames = s.frames - sh.frameNo
	}
	return st
}

package vision

import (
	"reflect"
	"time"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/analytics"
	"github.com/visiongate/visiongate/vision/track"
)

// tracking is a stage's tracker and the events it derives; used under the
// stage's lock.
type tracking struct {
	tracker *track.Tracker
	events  *analytics.Analytics
}

// newTracking starts tracking for cfg; ids continue after lastID.
func newTracking(source string, cfg Config, lastID uint64) *tracking {
	if !cfg.Tracker.Enabled || cfg.Detector == DetectorNone {
		return nil
	}
	return &tracking{tracker: track.NewAfter(cfg.Tracker.Config, lastID), events: analytics.New(source, cfg.Analytics)}
}

// lastID is the newest id handed out (0 for nil).
func (t *tracking) lastID() uint64 {
	if t == nil {
		return 0
	}
	return t.tracker.LastID()
}

// sameTracking reports whether a and b track the same way.
func sameTracking(a, b Config) bool {
	return reflect.DeepEqual(a.Tracker, b.Tracker) && reflect.DeepEqual(a.Analytics, b.Analytics)
}

// apply runs the tracker on d's boxes, replaces them with the matched
// confirmed tracks' boxes (ids set) and adds the events (stamped with the
// wall time the frame was sampled) and counts. It returns the matched
// tracks, to draw between results. The tracker runs on the video's own
// clock (PTS): motion per second of video, whatever the processing jitter.
func (t *tracking) apply(d *media.Detections, sampled time.Time) []track.Track {
	u := t.tracker.Update(ptsTime(d.PTS), d.Boxes)
	var matched []track.Track
	boxes := make([]media.Box, 0, len(u.Tracks))
	for _, tr := range u.Tracks {
		if tr.Matched {
			matched = append(matched, tr)
			boxes = append(boxes, tr.Box)
		}
	}
	d.Boxes = boxes
	d.Events = t.events.Update(sampled, d.PTS, u)
	c := t.events.Counts()
	d.Counts = &c
	return matched
}

func (t *tracking) counts() media.Counts { return t.events.Counts() }

// predictHorizon bounds how far ahead boxes are extrapolated.
const predictHorizon = time.Second

// ptsTime places an output timestamp on a time line for the tracker.
func ptsTime(pts int64) time.Time { return time.Unix(0, 0).Add(media.Duration(pts)) }

// predictBoxes places tracked boxes where their motion puts them at the
// frame with timestamp pts.
func predictBoxes(ts []track.Track, pts int64, hold time.Duration) []media.Box {
	out := make([]media.Box, len(ts))
	at := ptsTime(pts)
	for i, t := range ts {
		out[i] = t.PredictAt(at, min(hold, predictHorizon))
	}
	return out
}

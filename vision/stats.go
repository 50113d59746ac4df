package vision

import (
	"time"

	"github.com/visiongate/visiongate/media"
)

// Stats is a snapshot of one stage.
type Stats struct {
	Detector string
	Frames   uint64  // frames seen by Process
	FPS      float64 // frames per second through Process (the video rate)

	Sampled     uint64 // frames copied for detection
	SkippedBusy uint64 // frames due for sampling while a detection was in flight
	Replaced    uint64 // pending frames replaced by a newer one before a worker was free

	Detections       uint64  // results delivered
	DetectionsPerSec float64 // over the last few seconds
	LastLatency      time.Duration
	AvgLatency       time.Duration // exponentially weighted (α = 0.2)
	DetectTime       time.Duration // worker time of the last detection

	Boxes        int           // boxes being drawn now
	BoxAge       time.Duration // since the frame the drawn boxes come from
	BoxAgeFrames uint64        // frames since that frame

	Errors        uint64
	LastError     string
	EventsDropped uint64 // events not delivered to slow subscribers

	Runtime RuntimeInfo   // dnn: runtime and provider in use, once loaded
	Counts  *media.Counts // objects, zone occupancy and line crossings (tracker on)
}

// rateWindow is how far back rates look.
const rateWindow = 2 * time.Second

// rateMeter counts events in the last rateWindow with a ring of their
// times (sized for 120 events per second; faster rates are measured over
// the span the ring holds).
type rateMeter struct {
	times [256]int64
	n     int // events recorded, capped at len(times)
	next  int
	start time.Time
}

func (r *rateMeter) add(now time.Time) {
	if r.start.IsZero() {
		r.start = now
	}
	r.times[r.next] = now.UnixNano()
	r.next = (r.next + 1) % len(r.times)
	r.n = min(r.n+1, len(r.times))
}

// rate is events per second over the window (or since the first event
// when younger than the window).
func (r *rateMeter) rate(now time.Time) float64 {
	if r.n == 0 {
		return 0
	}
	from := now.Add(-rateWindow).UnixNano()
	count, oldest := 0, now.UnixNano()
	for i := 0; i < r.n; i++ {
		if t := r.times[i]; t > from {
			count++
			oldest = min(oldest, t)
		}
	}
	if count == len(r.times) { // the ring holds less than the window
		return float64(count) / max(time.Duration(now.UnixNano()-oldest), time.Microsecond).Seconds()
	}
	span := max(min(now.Sub(r.start), rateWindow), 500*time.Millisecond)
	return float64(count) / span.Seconds()
}

func ewma(avg, v time.Duration) time.Duration {
	if avg == 0 {
		return v
	}
	return avg + (v-avg)/5
}

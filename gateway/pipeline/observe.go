package pipeline

import (
	"sync"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/visiongate/visiongate/gateway/api"
)

// Observer gets each frame's timings (declared in api, so the metrics
// that implement it need not link the pipeline).
type Observer = api.PipelineObserver

type noObserver struct{}

func (noObserver) Decode(time.Duration)  {}
func (noObserver) Stage(time.Duration)   {}
func (noObserver) Encode(time.Duration)  {}
func (noObserver) Latency(time.Duration) {}

// arrivals remembers when recent packets were read, by timestamp, so the
// frame decoded from a packet can be traced back to its arrival.
type arrivals struct {
	mu   sync.Mutex
	pts  [64]int64
	at   [64]time.Time
	next int
}

func (a *arrivals) put(pts int64, at time.Time) {
	if pts == astiav.NoPtsValue {
		return
	}
	a.mu.Lock()
	a.pts[a.next], a.at[a.next] = pts, at
	a.next = (a.next + 1) % len(a.pts)
	a.mu.Unlock()
}

// get returns when the packet with pts arrived (zero when forgotten).
func (a *arrivals) get(pts int64) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.pts {
		if a.pts[i] == pts && !a.at[i].IsZero() {
			return a.at[i]
		}
	}
	return time.Time{}
}

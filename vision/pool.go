package vision

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/visiongate/visiongate/media"
)

// ErrClosed is returned when the pool (or stage) is closed.
var ErrClosed = errors.New("vision: closed")

// Pool is the global set of detection workers shared by all sources. Each
// source registers a Stage; a stage has at most one job pending and one in
// flight, and idle workers take pending jobs round-robin across stages, so
// a slow source cannot starve the others and nothing ever queues up.
type Pool struct {
	factory Factory
	workers int

	mu     sync.Mutex
	work   *sync.Cond // workers: a job is pending, a stage left, or closing
	idle   *sync.Cond // Stage.Close: an in-flight job finished
	stages []*Stage
	next   int // round-robin cursor into stages
	closed bool
	// changes counts stage removals and detector changes: a worker that
	// pruned before one must not sleep through its wake-up.
	changes uint64

	wg         sync.WaitGroup
	closeOnce  sync.Once
	closedFlag atomic.Bool // p.closed, readable without the lock
	jobs       atomic.Uint64
	busy       atomic.Int64
	load       atomic.Int64 // time.Duration: bound on building a detector
	detect     atomic.Int64 // time.Duration: bound on one detection
	results    events       // every stage's results, for pool-wide sinks
}

// PoolStats is a snapshot of the pool.
type PoolStats struct {
	Workers int
	Busy    int    // workers running a detection now
	Pending int    // stages with a frame waiting for a worker (≤ stages)
	Stages  int    // registered stages
	Jobs    uint64 // detections run
}

// NewPool starts workers (≤ 0 means NumCPU-1, at least 1) that build their
// detectors with factory (nil means NewDetector).
func NewPool(workers int, factory Factory) *Pool {
	if workers <= 0 {
		workers = max(runtime.NumCPU()-1, 1)
	}
	if factory == nil {
		factory = NewDetector
	}
	p := &Pool{factory: factory, workers: workers}
	p.load.Store(int64(DefaultLoadTimeout))
	p.detect.Store(int64(DefaultDetectTimeout))
	p.work = sync.NewCond(&p.mu)
	p.idle = sync.NewCond(&p.mu)
	p.wg.Add(workers)
	for range workers {
		go p.runWorker()
	}
	return p
}

// SetTimeouts bounds building a detector and running one detection (0
// keeps a bound as it is). Workers pick the new bounds up at their next
// job.
func (p *Pool) SetTimeouts(load, detect time.Duration) {
	if load > 0 {
		p.load.Store(int64(load))
	}
	if detect > 0 {
		p.detect.Store(int64(detect))
	}
}

// Subscribe returns every stage's results (with their events), for sinks
// such as MQTT. Sends never wait: a full buffer drops the result.
func (p *Pool) Subscribe(buf int) (<-chan media.Detections, func()) {
	return p.results.subscribe(buf)
}

// Stats returns a snapshot of the pool.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PoolStats{Workers: p.workers, Busy: int(p.busy.Load()), Stages: len(p.stages), Jobs: p.jobs.Load()}
	for _, s := range p.stages {
		if s.pending != nil {
			st.Pending++
		}
	}
	return st
}

// Close stops the workers after their current detection and frees every
// detector they hold. Stages stay usable but detect nothing more. A worker
// stuck in a native call is not waited for past PoolCloseWait.
func (p *Pool) Close() (err error) {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.closedFlag.Store(true)
		for _, s := range p.stages {
			s.pending = nil
		}
		p.mu.Unlock()
		p.work.Broadcast()
		if !waitTimeout(&p.wg, PoolCloseWait) {
			err = &TimeoutError{Op: "stopping the vision workers", After: PoolCloseWait}
		}
		p.results.close()
	})
	return err
}

// waitTimeout waits for wg at most d; false means it gave up (a worker is
// stuck in a native call; it exits by itself when the call returns).
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *Pool) register(s *Stage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.stages = append(p.stages, s)
	return nil
}

// unregister removes s, drops its pending job and waits for its in-flight
// one, then wakes the workers so they free s's detectors.
func (p *Pool) unregister(s *Stage) {
	p.mu.Lock()
	s.removed.Store(true)
	for i, o := range p.stages {
		if o == s {
			p.stages = append(p.stages[:i], p.stages[i+1:]...)
			if p.next > i {
				p.next--
			}
			break
		}
	}
	s.pending = nil
	// Wait for the detection in flight, but not for a hung native call:
	// after StageCloseWait the worker finishes on its own and drops the
	// result (the stage is removed).
	deadline := time.Now().Add(StageCloseWait)
	wake := time.AfterFunc(StageCloseWait, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.idle.Broadcast()
	})
	defer wake.Stop()
	for s.inflight != nil && time.Now().Before(deadline) {
		p.idle.Wait()
	}
	p.changedLocked()
	p.mu.Unlock()
}

// changed wakes the workers to free detectors a stage no longer uses.
func (p *Pool) changed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.changedLocked()
}

func (p *Pool) changedLocked() {
	p.changes++
	p.work.Broadcast()
}

// changesSeen is the change count a worker prunes for.
func (p *Pool) changesSeen() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changes
}

// Bounds on closing while a detector is stuck in a native call.
const (
	StageCloseWait = 2 * time.Second
	PoolCloseWait  = 3 * time.Second
)

// submit makes j the pending job of its stage, replacing an older pending
// one (latest frame wins). It never waits: it fails when the stage has a
// detection in flight or the pool is closed.
func (p *Pool) submit(j *job) (replaced *job, ok bool) {
	s := j.stage
	p.mu.Lock()
	if p.closed || s.removed.Load() || s.inflight != nil {
		p.mu.Unlock()
		return nil, false
	}
	replaced, s.pending = s.pending, j
	p.mu.Unlock()
	p.work.Signal()
	return replaced, true
}

// take returns the next pending job in round-robin order, waiting once for
// one; nil with open=true means "woken without a job" (re-check stages).
// It does not wait when stages changed since the worker's prune (seen).
func (p *Pool) take(seen uint64) (j *job, open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if j = p.pickLocked(); j == nil && !p.closed && p.changes == seen {
		p.work.Wait()
		j = p.pickLocked()
	}
	if p.closed {
		return nil, false
	}
	return j, true
}

func (p *Pool) pickLocked() *job {
	if p.closed {
		return nil
	}
	n := len(p.stages)
	for i := range n {
		k := (p.next + i) % n
		s := p.stages[k]
		if j := s.pending; j != nil {
			s.pending, s.inflight = nil, j
			s.busy.Store(true)
			p.next = (k + 1) % n
			p.busy.Add(1)
			return j
		}
	}
	return nil
}

// done clears the in-flight job of j's stage.
func (p *Pool) done(j *job) {
	p.mu.Lock()
	j.stage.inflight = nil
	j.stage.busy.Store(false)
	p.busy.Add(-1)
	p.jobs.Add(1)
	p.mu.Unlock()
	p.idle.Broadcast()
}

func (p *Pool) runWorker() {
	defer p.wg.Done()
	w := newWorker(p.factory, 0, 0)
	defer w.close()
	for {
		w.load, w.timeout = time.Duration(p.load.Load()), time.Duration(p.detect.Load())
		seen := p.changesSeen()
		w.prune()
		j, open := p.take(seen)
		if !open {
			return
		}
		if j == nil {
			continue
		}
		start := time.Now()
		res := w.run(j)
		res.took = time.Since(start)
		d, ok := j.stage.finish(j, res)
		p.done(j)
		if ok {
			j.stage.ev.publish(d)
			p.results.publish(d)
		}
	}
}

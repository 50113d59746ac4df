// Package pipeline runs one source: demux → decode → frame stage → encode
// → hub, or a relay of the input's own H.264/H.265 when nothing changes the
// picture. It restarts the source with backoff until stopped.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/mjpeg"
	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/internal/recovery"
	"github.com/visiongate/visiongate/media"
)

// FrameStage sees every decoded frame, in output size, before encoding.
// It must not block: the vision stage samples and annotates here.
type FrameStage interface {
	// Process samples f and draws on it.
	Process(f *media.Frame)
	// Observe samples f without drawing: no viewer will see it.
	Observe(f *media.Frame)
}

// Options configure a pipeline.
type Options struct {
	// Source has defaults resolved (config.Config.Resolve).
	Source config.Source
	URL    *config.SourceURL
	Hub    *hub.Hub
	Log    *slog.Logger
	Stage  FrameStage
	// JPEG, when set, receives JPEG pictures for MJPEG and snapshots.
	JPEG *mjpeg.Hub
	// Observer, when set, receives per-frame timings.
	Observer Observer
	// Backoff defaults to 1 s up to 30 s, probing every second.
	Backoff Backoff
	// Publish hands a publish source its publishers (publish.go).
	Publish *publish.Broker
}

// inputSession is one connection to the source, from open to failure;
// session is the real one.
type inputSession interface {
	run(ctx context.Context, out *output) error
	close()
}

// Pipeline owns the goroutine that runs one source.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	stats  *stats
	out    *output // persists across reconnects so timestamps continue
	cancel context.CancelFunc
	done   chan struct{}
	stop   sync.Once

	// open connects to the source; backoff and waiter time the retries.
	// Tests replace them.
	open    func(ctx context.Context) (inputSession, error)
	backoff *backoff
	waiter  retryWaiter
}

// errPermanent marks errors that retrying cannot fix.
var errPermanent = errors.New("permanent")

// New creates a stopped pipeline.
func New(o Options) *Pipeline {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	if o.Backoff.Min <= 0 {
		o.Backoff.Min = time.Second
	}
	if o.Backoff.Max < o.Backoff.Min {
		o.Backoff.Max = 30 * time.Second
	}
	log := o.Log.With("source", o.Source.Name)
	p := &Pipeline{opts: o, log: log, stats: newStats(), done: make(chan struct{}),
		backoff: newBackoff(o.Backoff), waiter: newWaiter(o.URL, o.Backoff.Probe)}
	p.open = func(ctx context.Context) (inputSession, error) {
		s, err := openSession(ctx, p.opts, p.stats, p.log)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if o.URL != nil && o.URL.Kind == config.KindPublish {
		p.open = p.openPublished
	}
	p.out = newOutput(o.Hub, o.Source.Encoder, o.Stage, p.stats, log)
	p.out.obs = o.Observer
	p.out.audioWant = media.Codec(o.Source.AudioCodec())
	if last := o.Hub.Latest(); last != nil {
		p.out.tl.ContinueAfter(last.PTS) // a restart after a config change
	}
	return p
}

// Start runs the source in the background until Stop.
func (p *Pipeline) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if p.opts.JPEG != nil {
		p.out.tap = newJPEGTap(p.opts.JPEG, p.log)
	}
	go p.run(ctx)
}

// Stop cancels the source and waits until every goroutine and libav object
// of it is gone.
func (p *Pipeline) Stop() {
	p.stop.Do(func() {
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
		p.out.waitSlate() // it offers to the tap: stop it first
		p.out.tap.close()
		p.out.close()
		p.stats.setState(StateStopped, nil)
	})
}

// Stats returns a snapshot of the pipeline's state and counters.
func (p *Pipeline) Stats() Stats { return p.stats.snapshot() }

func (p *Pipeline) run(ctx context.Context) {
	defer close(p.done)
	for attempt := 1; ; attempt++ {
		p.stats.attempt(attempt)
		produced, err := p.runOnce(ctx)
		if p.over(ctx, err) {
			return
		}
		if p.publishing() {
			p.log.Info("publisher gone", "err", err)
			continue // openPublished waits for the next one, no backoff
		}
		wait := p.backoff.after(produced)
		p.log.Warn("source interrupted, retrying", "err", err, "in", wait.Round(time.Millisecond))
		p.stats.setState(StateRetrying, err)
		p.out.startSlate()
		if !p.waiter.wait(ctx, wait) {
			return
		}
	}
}

// over tells whether the attempt that ended with err was the last one:
// stopped, failed for good, or a finite input that ended.
func (p *Pipeline) over(ctx context.Context, err error) bool {
	switch {
	case ctx.Err() != nil:
		return true
	case errors.Is(err, errPermanent):
		p.log.Error("source failed", "err", err)
		p.stats.setState(StateFailed, err)
		return true
	case errors.Is(err, errFinished):
		p.log.Info("source ended")
		p.stats.setState(StateStopped, nil)
		return true
	}
	return false
}

// runOnce opens the source and runs it until it fails. produced tells
// whether any frame came in, which resets the backoff.
func (p *Pipeline) runOnce(ctx context.Context) (produced bool, err error) {
	defer recovery.As(&err, p.log, "pipeline")
	s, err := p.open(ctx)
	if err != nil {
		return false, err
	}
	defer s.close()
	in, out := p.stats.framesIn.Load(), p.stats.framesOut.Load()
	err = s.run(ctx, p.out)
	return p.stats.framesIn.Load() > in || p.stats.framesOut.Load() > out, err
}

package hls

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/visiongate/visiongate/media"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/internal/recovery"
)

// Reasons a path cannot give a muxer to a request.
var (
	errPathGone     = errors.New("hls: path detached or its source ended")
	errPathNotReady = errors.New("hls: stream not ready")
)

// path is one attached hub. Its goroutine (run) owns the muxers; request
// handlers only read the current one.
type path struct {
	output.Life
	name    string
	hub     *hub.Hub
	cfg     settings
	wake    chan struct{} // cap 1: a request arrived (on-demand mode)
	first   *hub.Reader   // subscribed at Attach in always-on mode
	clients clientSet
	// waiting counts requests in waitReady or in the muxer's Handle, where
	// gohlslib holds a request for a preload-hinted part until it exists
	// (observed by tests, which must know a request is blocked).
	waiting atomic.Int32

	mu       sync.Mutex
	mux      *gohlslib.Muxer // current muxer, nil while none; changes are broadcast
	ready    bool            // mux has a playable playlist; changes are broadcast
	err      error           // why no muxer could be built, if so; changes are broadcast
	lastReq  time.Time
	inFlight int // requests being served (a waiting request is activity)
}

func newPath(parent context.Context, name string, h *hub.Hub, cfg settings) *path {
	p := &path{name: name, hub: h, cfg: cfg, wake: make(chan struct{}, 1)}
	p.Init(parent, &p.mu)
	if p.idleTimeout() == 0 {
		// Subscribe now so nothing published after Attach returns is missed.
		p.first = h.Subscribe(0)
	}
	return p
}

// idleTimeout is how long the muxer outlives the last request: the
// configured one, else the hub's grace period when the source encodes on
// demand; 0 keeps it always on.
func (p *path) idleTimeout() time.Duration {
	if p.cfg.idleTimeout == 0 && p.hub.OnDemand() {
		return hub.DefaultGrace
	}
	return p.cfg.idleTimeout
}

// run serves the hub until the path is stopped or the hub is closed. In
// on-demand mode it sleeps between idle periods until a request wakes it.
// On its way out it closes the muxer, which releases requests blocked in it.
func (p *path) run() {
	defer p.End()
	log := p.cfg.log.With("path", p.name)
	r := p.first
	for {
		if r == nil {
			if !p.waitDemand() {
				return
			}
			r = p.hub.Subscribe(0)
		}
		err := p.serve(r, log)
		r.Close()
		r = nil
		if err != nil {
			if errors.Is(err, hub.ErrClosed) {
				log.Info("hls: source hub closed")
			}
			return
		}
		log.Debug("hls: idle, muxer stopped")
	}
}

// waitDemand blocks until a request for the path arrives; false when the
// path is stopped first.
func (p *path) waitDemand() bool {
	for {
		if idle := p.idleTimeout(); idle == 0 || p.idleFor(time.Now()) < idle {
			return true
		}
		select {
		case <-p.wake:
		case <-p.Context().Done():
			return false
		}
	}
}

// serve feeds units from r to muxers until r fails (the error is returned)
// or, in on-demand mode, no request came for idleTimeout (nil).
// While it serves, it wants the hub's units, from a new IDR.
func (p *path) serve(r *hub.Reader, log *slog.Logger) error {
	f := &feeder{p: p, cfg: p.cfg, log: log}
	defer f.close()
	defer p.hub.Want()()
	defer p.hub.WantAudio(media.CodecAAC)() // sound HLS cannot carry is transcoded meanwhile
	// gohlslib serves no playlist before its first whole segment: start
	// one now and end it at the shortest length.
	p.hub.RequestKeyframe()
	end := time.AfterFunc(p.cfg.segmentMin, p.hub.RequestKeyframe)
	defer end.Stop()
	if p.cfg.variantErr != nil {
		p.setMuxer(nil, p.cfg.variantErr)
	}
	for {
		au, err := r.Next(p.Context())
		if err != nil {
			return err
		}
		if p.cfg.variantErr == nil {
			// A panic in the muxer costs this unit, not the path.
			_ = recovery.Call(log, "hls muxer", func() error { f.write(au); return nil })
		}
		if idle := p.idleTimeout(); idle > 0 && p.idleFor(time.Now()) >= idle {
			return nil
		}
	}
}

// touch records the start of a request: it keeps an on-demand muxer alive
// or wakes it. The caller must call untouch when the request ends.
func (p *path) touch(now time.Time, client string) {
	p.clients.seen(now, client)
	p.mu.Lock()
	p.lastReq = now
	p.inFlight++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// done records the end of a request; idleness counts from there.
func (p *path) untouch(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastReq = now
	p.inFlight--
}

// idleFor is how long no request has been in flight.
func (p *path) idleFor(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.inFlight > 0:
		return 0
	case p.lastReq.IsZero():
		return time.Duration(1<<63 - 1)
	}
	return now.Sub(p.lastReq)
}

// setMuxer publishes the current muxer (not ready yet) or the error that
// prevents one.
func (p *path) setMuxer(m *gohlslib.Muxer, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mux, p.ready, p.err = m, false, err
	p.BroadcastLocked()
}

// setReady marks m playable, unless it has been replaced meanwhile.
func (p *path) setReady(m *gohlslib.Muxer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mux == m && !p.ready {
		p.ready = true
		p.BroadcastLocked()
	}
}

// current returns the muxer now, ready or not, or nil.
func (p *path) current() *gohlslib.Muxer {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.EndedLocked() {
		return nil
	}
	return p.mux
}

// waitReady returns a muxer with a playable playlist, waiting up to the
// ready timeout for one.
func (p *path) waitReady(ctx context.Context) (*gohlslib.Muxer, error) {
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	ctx, cancel := context.WithTimeoutCause(ctx, p.cfg.readyTimeout, errPathNotReady)
	defer cancel()
	return output.Wait(ctx, &p.Life, errPathGone, func() (*gohlslib.Muxer, bool, error) {
		return p.mux, p.mux != nil && p.ready, p.err
	})
}

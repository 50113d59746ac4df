package rtsp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/internal/recovery"
)

// Reasons a path cannot give a stream to a request.
var (
	errPathGone     = errors.New("rtsp: path detached or its source ended")
	errPathNotReady = errors.New("rtsp: stream not ready")
)

// settings are the Server fields with defaults applied, fixed at Start.
type settings struct {
	describeTimeout time.Duration
	writeQueueSize  int
	ringSize        int
	log             *slog.Logger
}

// path is one attached hub. Its goroutine (run) owns the ServerStream's
// lifetime; request handlers only read it. Stopping it closes the stream,
// which disconnects the readers.
type path struct {
	output.Life
	name string
	hub  *hub.Hub

	waiters atomic.Int32 // DESCRIBEs waiting in waitStream (observed by tests)

	mu      sync.Mutex
	streams streams                             // changes are broadcast
	readers map[*gortsplib.ServerSession]func() // → its hub.Want release
	direct  map[*gortsplib.ServerSession]*directReader
	// playing is the direct readers, for the path goroutine to read
	// without the lock; replaced whenever direct changes.
	playing atomic.Pointer[[]*directReader]
}

// streams are the two ServerStreams of one description: gortsplib writes
// stream to its readers; direct readers are set up on silent and written
// by fan (see direct.go).
type streams struct {
	stream, silent *gortsplib.ServerStream
	fan            *fanout
}

func newPath(parent context.Context, name string, h *hub.Hub) *path {
	p := &path{name: name, hub: h, readers: make(map[*gortsplib.ServerSession]func()),
		direct: make(map[*gortsplib.ServerSession]*directReader)}
	p.Init(parent, &p.mu)
	return p
}

// run forwards the hub's units from r to the stream until the path is
// stopped or the hub is closed. r is subscribed by the caller, so nothing
// published after Attach returns is missed.
func (p *path) run(r *hub.Reader, srv *gortsplib.Server, log *slog.Logger) {
	defer r.Close()
	log = log.With("path", p.name)
	w := &writer{p: p, srv: srv, log: log}
	defer w.closeStream()
	defer p.End()

	// A hub that is already running tells us its parameters: DESCRIBE can be
	// answered now rather than at the next IDR.
	if info := p.hub.LastKeyframeInfo(); info != nil {
		if err := w.restart(info); err != nil {
			log.Warn("rtsp: cannot serve stream", "err", err)
		}
	}
	var errs uint64
	for {
		au, err := r.Next(p.Context())
		if err != nil {
			if errors.Is(err, hub.ErrClosed) {
				log.Info("rtsp: source hub closed")
			}
			return
		}
		if err := recovery.Call(log, "rtsp writer", func() error { return w.write(au) }); err != nil {
			errs++
			if errs&(errs-1) == 0 { // log on powers of two: no flood
				log.Warn("rtsp: cannot forward access unit", "err", err, "errors", errs)
			}
		}
	}
}

// setStreams publishes st to request handlers. The direct readers of the
// streams it replaces stop being written at once; closing those streams
// (the caller's job) ends their sessions.
func (p *path) setStreams(st streams) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streams = st
	clear(p.direct)
	p.publishDirectLocked()
	p.BroadcastLocked()
}

// currentStreams returns the streams now; zero when there are none.
func (p *path) currentStreams() streams {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.EndedLocked() {
		return streams{}
	}
	return p.streams
}

// currentStream returns the stream gortsplib writes, or nil.
func (p *path) currentStream() *gortsplib.ServerStream { return p.currentStreams().stream }

// directReaders returns the direct readers now playing.
func (p *path) directReaders() []*directReader {
	if l := p.playing.Load(); l != nil {
		return *l
	}
	return nil
}

func (p *path) publishDirectLocked() {
	l := make([]*directReader, 0, len(p.direct))
	for _, r := range p.direct {
		l = append(l, r)
	}
	p.playing.Store(&l)
}

// waitStream returns the stream, waiting up to timeout for a path whose
// source has not produced its first IDR yet.
// Waiting wants the hub: an idle on-demand encoder starts for it, and the
// hub's grace period keeps it running until the PLAY that follows.
func (p *path) waitStream(timeout time.Duration) (*gortsplib.ServerStream, error) {
	p.waiters.Add(1)
	defer p.waiters.Add(-1)
	defer p.hub.Want()()
	ctx, cancel := context.WithTimeoutCause(context.Background(), timeout, errPathNotReady)
	defer cancel()
	return output.Wait(ctx, &p.Life, errPathGone, func() (*gortsplib.ServerStream, bool, error) {
		return p.streams.stream, p.streams.stream != nil, nil
	})
}

// Outcomes of addReader.
const (
	readerAdded = iota
	readerGone  // the path is going away
	readerFull  // max readers reached
)

// addReader counts a playing session unless the path is going away or
// already has max readers (0: no limit); check and add are one step, so
// concurrent PLAYs cannot overshoot the limit. A direct reader (dr not
// nil) joins the path goroutine's fan-out too. A second PLAY of a
// session changes nothing.
func (p *path) addReader(ss *gortsplib.ServerSession, max int, dr *directReader) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.readers[ss]; ok {
		return readerAdded
	}
	switch {
	case p.EndedLocked() || p.Context().Err() != nil:
		return readerGone
	case dr != nil && ss.Stream() != p.streams.silent:
		return readerGone // set up on a stream since replaced
	case max > 0 && len(p.readers) >= max:
		return readerFull
	}
	p.readers[ss] = p.hub.Want()
	if dr != nil {
		dr.fan = p.streams.fan
		p.direct[ss] = dr
		p.publishDirectLocked()
	}
	p.hub.RequestKeyframe() // its picture starts now, not at the next GOP
	return readerAdded
}

func (p *path) removeReader(ss *gortsplib.ServerSession) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if release, ok := p.readers[ss]; ok {
		release()
		delete(p.readers, ss)
	}
	if _, ok := p.direct[ss]; ok {
		delete(p.direct, ss)
		p.publishDirectLocked()
	}
}

func (p *path) readerCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.readers)
}

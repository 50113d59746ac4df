package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/transcode"
)

const patience = 10 * time.Second

var errRefused = errors.New("connection refused")

// step is one scripted attempt: open fails with openErr, or a session
// writes frames (input timestamps) and then ends with end (nil: runs until
// stopped).
type step struct {
	openErr error
	frames  []int64
	fps     float64
	end     error
}

func refused() step { return step{openErr: errRefused} }

// run25 is a 25 fps run at 90 kHz: n frames from base, then end.
func run25(base int64, n int, end error) step {
	pts := make([]int64, n)
	for i := range pts {
		pts[i] = base + int64(i)*3600
	}
	return step{frames: pts, fps: 25, end: end}
}

// script opens the steps in order; once they are used up, every attempt
// is refused.
type script struct {
	mu    sync.Mutex
	steps []step
	opens int
}

func (s *script) open(context.Context) (inputSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opens++
	st := refused()
	if len(s.steps) > 0 {
		st, s.steps = s.steps[0], s.steps[1:]
	}
	if st.openErr != nil {
		return nil, st.openErr
	}
	return &frameSession{step: st}, nil
}

// frameSession writes real frames through the output (converter and
// encoder included), as a decoding session does.
type frameSession struct{ step step }

func (s *frameSession) run(ctx context.Context, out *output) error {
	out.beginInput(transcode.VideoInfo{CodecID: astiav.CodecIDH264, Codec: "h264", Width: 64, Height: 48,
		FPS: s.step.fps, TimeBase: astiav.NewRational(1, media.ClockRate)}, transcode.AudioInfo{}, false)
	f := astiav.AllocFrame()
	defer f.Free()
	f.SetWidth(64)
	f.SetHeight(48)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := f.AllocBuffer(0); err != nil {
		return err
	}
	if err := f.ImageFillBlack(); err != nil {
		return err
	}
	for _, pts := range s.step.frames {
		f.SetPts(pts)
		if err := out.writeFrame(f, time.Now()); err != nil {
			return err
		}
	}
	if s.step.end != nil {
		return s.step.end
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *frameSession) close() {}

// waitReq is a backoff wait the pipeline asked for; resume ends it.
type waitReq struct {
	d      time.Duration
	resume chan bool
}

// stepWaiter hands each wait to the test, which decides when it ends.
type stepWaiter struct{ reqs chan waitReq }

func (w *stepWaiter) wait(ctx context.Context, d time.Duration) bool {
	r := waitReq{d: d, resume: make(chan bool, 1)}
	select {
	case w.reqs <- r:
	case <-ctx.Done():
		return false
	}
	select {
	case ok := <-r.resume:
		return ok
	case <-ctx.Done():
		return false
	}
}

// next returns the next wait the pipeline asked for.
func (w *stepWaiter) next(t *testing.T, p *Pipeline) waitReq {
	t.Helper()
	select {
	case r := <-w.reqs:
		return r
	case <-time.After(patience):
		t.Fatalf("no backoff wait within %v; stats %+v", patience, p.Stats())
		return waitReq{}
	}
}

// instantWaiter ends every wait at once and remembers them.
type instantWaiter struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (w *instantWaiter) wait(ctx context.Context, d time.Duration) bool {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	return ctx.Err() == nil
}

// newScripted makes a pipeline whose attempts follow steps and whose
// waits go to waiter; jitter is off (factor 1) unless the test sets
// p.backoff.rand.
func newScripted(t *testing.T, b Backoff, waiter retryWaiter, steps ...step) (*Pipeline, *hub.Hub, *script) {
	t.Helper()
	src := config.Default().Resolve(config.Source{Name: "p", URL: "rtsp://cam.test/p"})
	u, err := config.ParseSourceURL(src.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New("p")
	p := New(Options{Source: src, URL: u, Hub: h, Backoff: b})
	sc := &script{steps: steps}
	p.open, p.waiter = sc.open, waiter
	p.backoff.rand = func() float64 { return 0.5 }
	t.Cleanup(func() { p.Stop(); h.Close() })
	return p, h, sc
}

// waitDone polls until the pipeline's goroutine has returned.
func waitDone(t *testing.T, p *Pipeline) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(patience):
		t.Fatalf("the pipeline still runs after %v; stats %+v", patience, p.Stats())
	}
}

package pipeline

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/gateway/mjpeg"
	"github.com/visiongate/visiongate/internal/recovery"
	"github.com/visiongate/visiongate/transcode"
)

// jpegQuality is libav's MJPEG qscale: 2 is best, 31 worst; 5 is close
// to a typical "quality 80".
const jpegQuality = 5

// jpegTap encodes annotated frames to JPEG for MJPEG viewers and
// snapshots, off the video path: the pipeline hands over a reference to
// the newest frame (latest wins) and never waits for the encode.
type jpegTap struct {
	hub *mjpeg.Hub
	log *slog.Logger

	mu      sync.Mutex
	pending *astiav.Frame // a reference to the newest frame, or unreferenced
	pts     int64
	has     bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	encoders map[int]*transcode.JPEGEncoder // by requested width (0 = source)
}

func newJPEGTap(h *mjpeg.Hub, log *slog.Logger) *jpegTap {
	t := &jpegTap{hub: h, log: log, pending: astiav.AllocFrame(), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), encoders: map[int]*transcode.JPEGEncoder{}}
	go t.run()
	return t
}

// active tells whether anyone waits for pictures.
func (t *jpegTap) active() bool { return t != nil && t.hub.Active() }

// offer keeps a reference to f when anyone wants pictures. Cheap: no
// pixels are copied here.
func (t *jpegTap) offer(f *astiav.Frame, pts int64) {
	if t == nil || !t.hub.Active() {
		return
	}
	t.mu.Lock()
	t.pending.Unref()
	err := t.pending.Ref(f)
	t.pts, t.has = pts, err == nil
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *jpegTap) run() {
	defer close(t.done)
	work := astiav.AllocFrame()
	defer work.Free()
	for {
		select {
		case <-t.stop:
			return
		case <-t.wake:
		}
		t.mu.Lock()
		ok, pts := t.has, t.pts
		if ok {
			work.Unref()
			work.MoveRef(t.pending)
			t.has = false
		}
		t.mu.Unlock()
		if ok {
			t.encode(work, pts)
			work.Unref()
		}
	}
}

// encode makes one picture per wanted width.
func (t *jpegTap) encode(f *astiav.Frame, pts int64) {
	var err error
	defer func() {
		if err != nil {
			t.log.Warn("jpeg", "err", err)
		}
	}()
	defer recovery.As(&err, t.log, "jpeg encoder")
	now := time.Now()
	t.hub.SetSourceWidth(f.Width())
	wanted := t.hub.Wanted()
	t.prune(wanted)
	for _, width := range wanted {
		enc, err := t.encoder(width, f.Width(), f.Height())
		if err != nil {
			t.log.Warn("jpeg encoder", "err", err)
			continue
		}
		data, err := enc.Encode(f)
		if err != nil {
			t.log.Warn("jpeg encode", "err", err)
			continue
		}
		w, h := enc.Size()
		t.hub.Publish(width, &mjpeg.Picture{JPEG: data, Width: w, Height: h, PTS: pts, Time: now})
	}
}

// encoder returns the encoder for a requested width, (re)made when the
// source size changes. Widths above the source's are served at source size.
func (t *jpegTap) encoder(width, srcW, srcH int) (*transcode.JPEGEncoder, error) {
	w, h := srcW, srcH
	if width > 0 && width < srcW {
		w, h = width&^1, max(2, (srcH*width/srcW)&^1)
	}
	if e := t.encoders[width]; e != nil {
		if ew, eh := e.Size(); ew == w && eh == h {
			return e, nil
		}
		e.Close()
		delete(t.encoders, width)
	}
	e, err := transcode.NewJPEGEncoder(w, h, jpegQuality)
	if err != nil {
		return nil, err
	}
	t.encoders[width] = e
	return e, nil
}

// prune closes the encoders of widths nobody watches any more.
func (t *jpegTap) prune(wanted []int) {
	for width, e := range t.encoders {
		if !slices.Contains(wanted, width) {
			e.Close()
			delete(t.encoders, width)
		}
	}
}

// close stops the goroutine and frees every frame and encoder.
func (t *jpegTap) close() {
	if t == nil {
		return
	}
	close(t.stop)
	<-t.done
	t.pending.Free()
	for _, e := range t.encoders {
		e.Close()
	}
}

package vision

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// job is one sampled frame on its way to a worker. It owns its sample
// buffer until the stage takes it back.
type job struct {
	stage          *Stage
	cfg            Config
	gen            uint64
	sample         sample
	frameW, frameH int
	pts            int64
	sampled        time.Time
	frameNo        uint64
}

// result of a job: boxes in frame pixels.
type result struct {
	boxes []media.Box
	err   error
	build bool // the detector could not be built: stop sampling until Update
	took  time.Duration
}

// worker is the state one pool goroutine owns: its detectors (one per
// stage and config generation) and its conversion buffers.
type worker struct {
	factory       Factory
	dets          map[*Stage]*entry
	conv          *converter
	load, timeout time.Duration
}

type entry struct {
	gen uint64
	det Detector
	err error
}

func newWorker(f Factory, load, detect time.Duration) *worker {
	return &worker{factory: f, dets: map[*Stage]*entry{}, conv: newConverter(), load: load, timeout: detect}
}

// prune frees detectors of stages that left or changed their config.
func (w *worker) prune() {
	for s, e := range w.dets {
		if s.removed.Load() || s.gen.Load() != e.gen {
			e.close()
			delete(w.dets, s)
		}
	}
}

func (w *worker) close() {
	for s, e := range w.dets {
		e.close()
		delete(w.dets, s)
	}
	w.conv.close()
}

func (e *entry) close() {
	if e.det != nil {
		e.det.Close()
		e.det = nil
	}
}

// detector returns j's stage detector for j's config, building it when
// missing or outdated. A build that outlasts w.load is abandoned.
func (w *worker) detector(j *job) *entry {
	if e := w.dets[j.stage]; e != nil && e.gen == j.gen {
		return e
	} else if e != nil {
		e.close()
	}
	e := &entry{gen: j.gen}
	type built struct {
		d   Detector
		err error
	}
	b, ok := bounded(w.load, func() built {
		d, err := safeBuild(w.factory, j.cfg)
		return built{d, err}
	}, func(b built) {
		if b.d != nil {
			b.d.Close()
		}
	})
	e.det, e.err = b.d, b.err
	if !ok {
		e.err = &DetectorError{Detector: j.cfg.Detector, Err: &TimeoutError{Op: "loading the detector", After: w.load}}
	}
	w.dets[j.stage] = e
	if d, ok := e.det.(describer); ok {
		j.stage.setRuntime(d.Info())
	}
	return e
}

func (w *worker) run(j *job) result {
	if j.gen != j.stage.gen.Load() {
		return result{} // config changed while pending: finish drops it
	}
	e := w.detector(j)
	if e.err != nil {
		return result{err: e.err, build: true}
	}
	img, err := w.conv.toBGR(j.sample, j.cfg.Width)
	if err != nil {
		return result{err: err}
	}
	scale := float64(img.Cols()) / float64(j.sample.w)
	if sc, ok := e.det.(sourceScaler); ok {
		sc.setSourceScale(scale)
	}
	boxes, err := w.detect(j, e, img)
	if err != nil {
		// A hung detector stops the source's sampling until its config
		// changes, like one that cannot be built.
		var te *TimeoutError
		return result{err: &DetectorError{Detector: j.cfg.Detector, Err: err}, build: errors.As(err, &te)}
	}
	sy := float64(j.sample.h) / float64(img.Rows())
	return result{boxes: scaleBoxes(boxes, 1/scale, sy, j.frameW, j.frameH)}
}

// detect runs the detector within w.timeout. When it does not return in
// time, the detector and the image it reads are abandoned to the stray
// call, which frees them; the next job builds a new detector.
func (w *worker) detect(j *job, e *entry, img gocv.Mat) ([]media.Box, error) {
	type out struct {
		boxes []media.Box
		err   error
	}
	det, conv := e.det, w.conv
	o, ok := bounded(w.timeout, func() out {
		b, err := safeDetect(det, img)
		return out{b, err}
	}, func(out) {
		det.Close()
		conv.close()
	})
	if ok {
		return o.boxes, o.err
	}
	e.det = nil
	delete(w.dets, j.stage)
	w.conv = newConverter()
	return nil, &TimeoutError{Op: "detection", After: w.timeout}
}

// safeBuild and safeDetect turn a panicking (Go) detector into an error:
// a worker must outlive a bad detector.
func safeBuild(f Factory, cfg Config) (d Detector, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, &DetectorError{Detector: cfg.Detector, Err: fmt.Errorf("panic: %v", r)}
		}
	}()
	return f(cfg)
}

func safeDetect(d Detector, img gocv.Mat) (boxes []media.Box, err error) {
	defer func() {
		if r := recover(); r != nil {
			boxes, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return d.Detect(img)
}

// scaleBoxes maps boxes from detection to frame pixels, clipped to w x h.
func scaleBoxes(bs []media.Box, sx, sy float64, w, h int) []media.Box {
	out := make([]media.Box, 0, len(bs))
	for _, b := range bs {
		x0 := clampInt(int(math.Round(float64(b.X)*sx)), 0, w)
		y0 := clampInt(int(math.Round(float64(b.Y)*sy)), 0, h)
		x1 := clampInt(int(math.Round(float64(b.X+b.W)*sx)), 0, w)
		y1 := clampInt(int(math.Round(float64(b.Y+b.H)*sy)), 0, h)
		if x1 <= x0 || y1 <= y0 {
			continue
		}
		b.X, b.Y, b.W, b.H = x0, y0, x1-x0, y1-y0
		out = append(out, b)
	}
	return out
}

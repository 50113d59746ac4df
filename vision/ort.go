package vision

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// RuntimeError reports a model that a runtime could not load or run; it
// names the runtime so a user knows which one to switch.
type RuntimeError struct {
	Runtime string
	Op      string
	Model   string
	Err     error
}

func (e *RuntimeError) Error() string {
	msg := fmt.Sprintf("%s runtime: %s %s: %v", e.Runtime, e.Op, e.Model, e.Err)
	if e.Runtime == RuntimeOpenCV {
		msg += " (OpenCV 4.6 cannot run YOLOv8/YOLO11 exports: use runtime onnxruntime)"
	}
	return msg
}

func (e *RuntimeError) Unwrap() error { return e.Err }

// RuntimeInfo says what runs a model, on which provider, and why.
type RuntimeInfo struct {
	Runtime  string // e.g. "onnxruntime 1.30.0", "opencv"
	Provider string // cpu, cuda, or the OpenCV backend/target
	Reason   string // why an earlier provider was not used
	Classes  int    // class names known
}

// describer is implemented by detectors that know their runtime.
type describer interface{ Info() RuntimeInfo }

// ortDetector runs an ONNX model through ONNX Runtime.
type ortDetector struct {
	sess       *ort.DynamicAdvancedSession
	input      *ort.Tensor[float32]
	inW, inH   int
	format     string
	post       postprocess
	fit        *fitter
	info       RuntimeInfo
	scale, sub float32
	swapRB     bool
}

func newORT(cfg Config, names []string) (*ortDetector, error) {
	fail := func(op string, err error) error {
		return &RuntimeError{Runtime: RuntimeONNX, Op: op, Model: cfg.Model, Err: err}
	}
	if err := initORT(); err != nil {
		return nil, fail("init", err)
	}
	io, err := inspectModel(cfg.Model)
	if err != nil {
		return nil, fail("inspect", err)
	}
	d := &ortDetector{inW: io.w, inH: io.h, format: cfg.Format, swapRB: !cfg.KeepBGR,
		scale: float32(cfg.Scale), sub: float32(cfg.Mean)}
	if d.inW <= 0 || d.inH <= 0 {
		d.inW, d.inH = cfg.InputSize, cfg.InputSize
	}
	if d.input, err = ort.NewEmptyTensor[float32](ort.NewShape(1, 3, int64(d.inH), int64(d.inW))); err != nil {
		return nil, fail("input tensor", err)
	}
	if d.sess, d.info, err = openSession(cfg, io); err != nil {
		d.input.Destroy()
		return nil, fail("load", err)
	}
	meta := readMeta(d.sess)
	if names == nil {
		names = meta.names
	}
	if d.format == FormatAuto && meta.end2end {
		d.format = FormatEnd2End
	}
	d.post = newPostprocess(cfg, names)
	d.info.Classes = len(names)
	d.fit = newFitter(cfg.Resize)
	return d, nil
}

// openSession tries cfg.Providers in order and keeps the first that loads.
func openSession(cfg Config, io modelIO) (*ort.DynamicAdvancedSession, RuntimeInfo, error) {
	info := RuntimeInfo{Runtime: RuntimeONNX + " " + ortEnv.version}
	var reasons []string
	for _, p := range cfg.Providers {
		s, err := sessionWith(p, cfg, io)
		if err == nil {
			info.Provider, info.Reason = p, strings.Join(reasons, "; ")
			return s, info, nil
		}
		reasons = append(reasons, p+": "+firstLine(err.Error()))
	}
	return nil, info, errors.New(strings.Join(reasons, "; "))
}

func sessionWith(provider string, cfg Config, io modelIO) (*ort.DynamicAdvancedSession, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(cfg.Threads); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	// Idle ONNX Runtime threads spin by default: that would take CPU from
	// decoding and encoding, which must never wait.
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return nil, err
	}
	if provider == ProviderCUDA {
		if err := appendCUDA(opts); err != nil {
			return nil, err
		}
	}
	return ort.NewDynamicAdvancedSession(cfg.Model, []string{io.input}, []string{io.output}, opts)
}

// cudaMissing remembers that the CUDA provider library could not be
// loaded, so later models do not retry it.
var cudaMissing struct {
	sync.Mutex
	err error
}

func appendCUDA(opts *ort.SessionOptions) error {
	cudaMissing.Lock()
	defer cudaMissing.Unlock()
	if cudaMissing.err != nil {
		return cudaMissing.err
	}
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		cudaMissing.err = err
		return err
	}
	defer co.Destroy()
	err = opts.AppendExecutionProviderCUDA(co)
	if err != nil && strings.Contains(err.Error(), "Failed to load library") {
		cudaMissing.err = errors.New("the CUDA provider library is not installed (" + firstLine(err.Error()) + ")")
		return cudaMissing.err
	}
	return err
}

func (d *ortDetector) Info() RuntimeInfo { return d.info }

func (d *ortDetector) Detect(img gocv.Mat) ([]media.Box, error) {
	in, g := d.fit.fit(img, d.inW, d.inH)
	if err := fillCHW(d.input.GetData(), in, d.scale, d.sub, d.swapRB); err != nil {
		return nil, err
	}
	outs := []ort.Value{nil}
	if err := d.sess.Run([]ort.Value{d.input}, outs); err != nil {
		return nil, &RuntimeError{Runtime: RuntimeONNX, Op: "run", Err: err}
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, &RuntimeError{Runtime: RuntimeONNX, Op: "run", Err: errors.New("output is not a float32 tensor")}
	}
	shape := t.GetShape()
	dims := make([]int, len(shape))
	for i, v := range shape {
		dims[i] = int(v)
	}
	return d.post.boxes(d.format, dims, t.GetData(), g)
}

func (d *ortDetector) Close() error {
	d.fit.close()
	d.sess.Destroy()
	return d.input.Destroy()
}

// fillCHW writes a continuous 8-bit BGR image into a [3,H,W] float tensor:
// (pixel - sub) * scale, channels in RGB order when swapRB.
func fillCHW(dst []float32, img gocv.Mat, scale, sub float32, swapRB bool) error {
	n := img.Rows() * img.Cols()
	if img.Type() != gocv.MatTypeCV8UC3 || !img.IsContinuous() || len(dst) != 3*n {
		return fmt.Errorf("vision: network input %dx%d type %v does not fit a tensor of %d", img.Cols(), img.Rows(), img.Type(), len(dst))
	}
	px, err := img.DataPtrUint8()
	if err != nil {
		return err
	}
	c0, c2 := 0, 2
	if swapRB {
		c0, c2 = 2, 0
	}
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	for i := range n {
		p := px[i*3 : i*3+3 : i*3+3]
		r[i] = (float32(p[c0]) - sub) * scale
		g[i] = (float32(p[1]) - sub) * scale
		b[i] = (float32(p[c2]) - sub) * scale
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Package vision runs object detectors (OpenCV through gocv) on sampled
// frames of each source in a shared worker pool, and draws the latest
// boxes on every frame straight into its YUV planes. The video path only
// ever copies a sampled frame and draws: it never waits for a detector.
package vision

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/visiongate/visiongate/vision/analytics"
	"github.com/visiongate/visiongate/vision/track"
)

// Detector names accepted in Config.Detector.
const (
	DetectorNone   = "none"
	DetectorPeople = "people"
	DetectorFaces  = "faces"
	DetectorMotion = "motion"
	DetectorDNN    = "dnn"
)

// Detectors lists the accepted detector names.
var Detectors = []string{DetectorNone, DetectorPeople, DetectorFaces, DetectorMotion, DetectorDNN}

// DNN output layouts accepted in Config.Format.
const (
	FormatAuto   = "auto"
	FormatYOLOv5 = "yolov5" // [1,N,5+C]: cx,cy,w,h,objectness,class scores
	FormatYOLOv8 = "yolov8" // [1,4+C,N]: cx,cy,w,h,class scores (transposed)
	FormatSSD    = "ssd"    // [1,1,N,7]: image,class,score,x1,y1,x2,y2 (0..1)
	// FormatEnd2End is [1,K,6]: x1,y1,x2,y2,score,class with NMS inside
	// the model (YOLOv10, YOLO26 and end2end exports).
	FormatEnd2End = "end2end"
)

// Formats lists the accepted output layouts.
var Formats = []string{FormatAuto, FormatYOLOv5, FormatYOLOv8, FormatEnd2End, FormatSSD}

// Runtimes that run dnn models.
const (
	RuntimeONNX   = "onnxruntime" // ONNX Runtime: YOLOv8/YOLO11 and most exports
	RuntimeOpenCV = "opencv"      // OpenCV 4.6's cv::dnn: older models, Caffe/TF files
)

// Execution providers for RuntimeONNX, tried in the order given.
const (
	ProviderCUDA = "cuda"
	ProviderCPU  = "cpu"
)

// DefaultProviders uses a GPU when one is usable, else the CPU.
var DefaultProviders = []string{ProviderCUDA, ProviderCPU}

// Defaults applied by Config.WithDefaults.
const (
	DefaultFPS        = 5
	DefaultWidth      = 640
	DefaultHold       = time.Second
	DefaultInputSize  = 640
	DefaultConfidence = 0.5
	DefaultNMS        = 0.45
	DefaultMinArea    = 1500
)

// Tracker defaults for the people (HOG) detector.
const (
	peopleHigh = 0.2
	peopleIoU  = 0.2
)

// Config selects and tunes the detector of one source.
type Config struct {
	Detector string  // none, people, faces, motion, dnn
	FPS      float64 // most detections per second; 0 means DefaultFPS
	Width    int     // detection image width (downscaled copy); 0 means 640
	MinScore float32 // drop boxes scoring lower (people: SVM margin)
	Hold     time.Duration
	Overlay  bool // draw a clock and the detection rate top-left

	Cascade string // faces: cascade XML; empty searches the usual paths

	MinArea int // motion: smallest box in source pixels

	Model       string  // dnn: model file (ONNX, or anything cv::dnn::readNet reads)
	ModelConfig string  // dnn: optional second file (e.g. .prototxt, .pbtxt)
	Classes     string  // dnn: class names, one per line
	Format      string  // dnn: auto, yolov5, yolov8, ssd
	InputSize   int     // dnn: square network input; 0 means 640
	Scale       float64 // dnn: pixel scale; 0 means 1/255
	Mean        float64 // dnn: subtracted from every channel before Scale
	KeepBGR     bool    // dnn: feed BGR (default swaps to RGB)
	Confidence  float32 // dnn: 0 means 0.5
	NMS         float32 // dnn and people: IoU threshold; 0 means 0.45
	ClassFilter []string
	Backend     string // dnn (opencv): default, opencv, cuda, openvino, vulkan, halide
	Target      string // dnn (opencv): cpu, fp32, fp16, cuda, cudafp16, vpu, vulkan, fpga

	Runtime   string   // dnn: onnxruntime (default) or opencv
	Providers []string // dnn (onnxruntime): cuda, cpu; the first that works
	Threads   int      // dnn (onnxruntime): threads per worker; 0 means 1
	Resize    string   // dnn: letterbox (default) or stretch

	Tracker   TrackerConfig
	Analytics analytics.Config // zones, lines, update throttle
}

// TrackerConfig turns the tracker on and tunes it.
type TrackerConfig struct {
	Enabled bool
	track.Config
}

// ConfigError names the invalid field of a Config.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "vision." + e.Field + ": " + e.Reason }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// WithDefaults returns c with zero values replaced by defaults.
func (c Config) WithDefaults() Config {
	if c.Detector == "" {
		c.Detector = DetectorNone
	}
	if c.FPS == 0 {
		c.FPS = DefaultFPS
	}
	if c.Width == 0 {
		c.Width = DefaultWidth
	}
	if c.Hold == 0 {
		c.Hold = DefaultHold
	}
	if c.MinArea == 0 {
		c.MinArea = DefaultMinArea
	}
	if c.Format == "" {
		c.Format = FormatAuto
	}
	if c.InputSize == 0 {
		c.InputSize = DefaultInputSize
	}
	if c.Scale == 0 {
		c.Scale = 1.0 / 255
	}
	if c.Confidence == 0 {
		c.Confidence = DefaultConfidence
	}
	if c.NMS == 0 {
		c.NMS = DefaultNMS
	}
	if c.Runtime == "" {
		c.Runtime = RuntimeONNX
	}
	if len(c.Providers) == 0 {
		c.Providers = DefaultProviders
	}
	if c.Threads == 0 {
		c.Threads = 1
	}
	if c.Resize == "" {
		c.Resize = ResizeLetterbox
	}
	if c.Detector == DetectorPeople {
		// HOG's scores are SVM margins, mostly 0.2-1.5, and its boxes jump
		// between pyramid scales: a lower bar for both keeps walkers' ids.
		c.Tracker.High = cmp.Or(c.Tracker.High, peopleHigh)
		c.Tracker.IoU = cmp.Or(c.Tracker.IoU, peopleIoU)
	}
	c.Tracker.Config = c.Tracker.Config.WithDefaults()
	c.Analytics = c.Analytics.WithDefaults()
	return c
}

// Validate checks c (after WithDefaults) without loading anything heavy;
// files it names must exist.
func (c Config) Validate() error {
	if !oneOf(c.Detector, Detectors) {
		return cfgErr("detector", "must be one of %v", Detectors)
	}
	switch {
	case c.FPS < 0 || c.FPS > 120:
		return cfgErr("fps", "must be between 0 and 120")
	case c.Width < 32 || c.Width > 4096:
		return cfgErr("width", "must be between 32 and 4096")
	case c.Hold < 0:
		return cfgErr("hold", "must not be negative")
	case c.MinArea < 0:
		return cfgErr("min_area", "must not be negative")
	case c.Confidence < 0 || c.Confidence > 1:
		return cfgErr("confidence", "must be between 0 and 1")
	case c.NMS < 0 || c.NMS > 1:
		return cfgErr("nms", "must be between 0 and 1")
	case c.MinArea > 1<<26:
		return cfgErr("min_area", "must be at most %d", 1<<26)
	}
	if err := c.validateTracking(); err != nil {
		return err
	}
	if c.Detector == DetectorFaces && c.Cascade != "" {
		if err := fileExists("cascade", c.Cascade); err != nil {
			return err
		}
	}
	if c.Detector == DetectorDNN {
		return c.validateDNN()
	}
	return nil
}

func (c Config) validateDNN() error {
	if c.Model == "" {
		return cfgErr("model", "required for the dnn detector")
	}
	for _, f := range []struct{ field, path string }{
		{"model", c.Model}, {"model_config", c.ModelConfig}, {"classes", c.Classes},
	} {
		if f.path == "" {
			continue
		}
		if err := fileExists(f.field, f.path); err != nil {
			return err
		}
	}
	if !oneOf(c.Format, Formats) {
		return cfgErr("format", "must be one of %v", Formats)
	}
	if c.InputSize < 16 || c.InputSize > 4096 {
		return cfgErr("input_size", "must be between 16 and 4096")
	}
	return c.validateRuntime()
}

func (c Config) validateRuntime() error {
	if !oneOf(c.Runtime, []string{RuntimeONNX, RuntimeOpenCV}) {
		return cfgErr("runtime", "must be onnxruntime or opencv")
	}
	if len(c.Providers) > 4 {
		return cfgErr("providers", "at most 4")
	}
	for i, p := range c.Providers {
		if !oneOf(p, []string{ProviderCUDA, ProviderCPU}) {
			return cfgErr(fmt.Sprintf("providers[%d]", i), "must be cuda or cpu")
		}
	}
	if c.Threads < 1 || c.Threads > 64 {
		return cfgErr("threads", "must be between 1 and 64")
	}
	if !oneOf(c.Resize, []string{ResizeLetterbox, ResizeStretch}) {
		return cfgErr("resize", "must be letterbox or stretch")
	}
	return nil
}

// validateTracking checks the tracker and the zones and lines, which need
// it.
func (c Config) validateTracking() error {
	if err := c.Tracker.Config.Validate(); err != nil {
		return prefixed("tracker.", err)
	}
	if err := c.Analytics.Validate(); err != nil {
		return prefixed("", err)
	}
	if !c.Tracker.Enabled && (len(c.Analytics.Zones) > 0 || len(c.Analytics.Lines) > 0) {
		return cfgErr("tracker.enabled", "zones and lines need the tracker")
	}
	return nil
}

// prefixed turns the tracker's and analytics' field errors into ours.
func prefixed(prefix string, err error) error {
	var te *track.ConfigError
	var ae *analytics.ConfigError
	switch {
	case errors.As(err, &te):
		return cfgErr(prefix+te.Field, "%s", te.Reason)
	case errors.As(err, &ae):
		return cfgErr(prefix+ae.Field, "%s", ae.Reason)
	}
	return cfgErr(strings.TrimSuffix(prefix, "."), "%v", err)
}

// sameDetector reports whether a and b build the same detector, so that an
// Update changing only sampling or drawing keeps the loaded model.
func sameDetector(a, b Config) bool {
	a.FPS, b.FPS = 0, 0
	a.Hold, b.Hold = 0, 0
	a.Overlay, b.Overlay = false, false
	a.Tracker, b.Tracker = TrackerConfig{}, TrackerConfig{}
	a.Analytics, b.Analytics = analytics.Config{}, analytics.Config{}
	return reflect.DeepEqual(a, b)
}

// fileExists checks that path names a regular file (after symlinks): a
// FIFO or device would block the worker that opens it.
func fileExists(field, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return cfgErr(field, "%v", err)
	}
	if !st.Mode().IsRegular() {
		return cfgErr(field, "%s is not a regular file", path)
	}
	return nil
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Vision selects and tunes a source's detector. Zero values take the
// vision package's defaults; it validates the detector-specific fields.
// Model, ModelConfig, Classes and Cascade name files in the models
// directory (config files may also give absolute paths).
type Vision struct {
	// Detector: none, people, faces, motion or dnn.
	Detector string  `yaml:"detector" json:"detector"`
	FPS      float64 `yaml:"fps,omitempty" json:"fps,omitempty"` // most detections per second (5)
	// Width of the downscaled copy detection runs on (640).
	Width    int      `yaml:"width,omitempty" json:"width,omitempty"`
	MinScore float32  `yaml:"min_score,omitempty" json:"min_score,omitempty"`
	Hold     Duration `yaml:"hold,omitempty" json:"hold,omitzero"` // boxes persist this long (1s)
	Overlay  bool     `yaml:"overlay,omitempty" json:"overlay,omitempty"`
	Cascade  string   `yaml:"cascade,omitempty" json:"cascade,omitempty"`   // faces
	MinArea  int      `yaml:"min_area,omitempty" json:"min_area,omitempty"` // motion
	// dnn: an ONNX (or other cv::dnn) model and its output decoding.
	Model       string   `yaml:"model,omitempty" json:"model,omitempty"`
	ModelConfig string   `yaml:"model_config,omitempty" json:"model_config,omitempty"`
	Classes     string   `yaml:"classes,omitempty" json:"classes,omitempty"`
	Format      string   `yaml:"format,omitempty" json:"format,omitempty"` // auto, yolov5, yolov8, end2end, ssd
	InputSize   int      `yaml:"input_size,omitempty" json:"input_size,omitempty"`
	Scale       float64  `yaml:"scale,omitempty" json:"scale,omitempty"`
	Mean        float64  `yaml:"mean,omitempty" json:"mean,omitempty"`
	KeepBGR     bool     `yaml:"keep_bgr,omitempty" json:"keep_bgr,omitempty"`
	Confidence  float32  `yaml:"confidence,omitempty" json:"confidence,omitempty"`
	NMS         float32  `yaml:"nms,omitempty" json:"nms,omitempty"`
	ClassFilter []string `yaml:"class_filter,omitempty" json:"class_filter,omitempty"`
	Backend     string   `yaml:"backend,omitempty" json:"backend,omitempty"`
	Target      string   `yaml:"target,omitempty" json:"target,omitempty"`
	// Runtime runs dnn models: onnxruntime (default) or opencv.
	Runtime   string   `yaml:"runtime,omitempty" json:"runtime,omitempty"`
	Providers []string `yaml:"providers,omitempty" json:"providers,omitempty"` // onnxruntime: [cuda, cpu]
	Threads   int      `yaml:"threads,omitempty" json:"threads,omitempty"`     // onnxruntime: per worker (1)
	Resize    string   `yaml:"resize,omitempty" json:"resize,omitempty"`       // letterbox or stretch
	// Tracker gives boxes ids; on by default.
	Tracker *Tracker `yaml:"tracker,omitempty" json:"tracker,omitempty"`
	Zones   []Zone   `yaml:"zones,omitempty" json:"zones,omitempty"`
	Lines   []Line   `yaml:"lines,omitempty" json:"lines,omitempty"`
	// UpdateInterval throttles "update" events per object (1s).
	UpdateInterval Duration `yaml:"update_interval,omitempty" json:"update_interval,omitzero"`
}

// Tracker tunes the multi-object tracker.
type Tracker struct {
	Enabled   *bool    `yaml:"enabled,omitempty" json:"enabled,omitempty"`       // default true
	MaxAge    Duration `yaml:"max_age,omitempty" json:"max_age,omitzero"`        // lost this long: ended (2s)
	MinHits   int      `yaml:"min_hits,omitempty" json:"min_hits,omitempty"`     // matches to confirm (2)
	IoU       float32  `yaml:"iou,omitempty" json:"iou,omitempty"`               // least overlap to match (0.3)
	HighScore float32  `yaml:"high_score,omitempty" json:"high_score,omitempty"` // first-stage score (0.5)
}

// TrackerOn reports whether the tracker runs (the default).
func (v *Vision) TrackerOn() bool {
	return v.Tracker == nil || v.Tracker.Enabled == nil || *v.Tracker.Enabled
}

// Zone is a polygon in source pixels; objects whose bottom-centre is
// inside count as in the zone.
type Zone struct {
	Name      string       `yaml:"name" json:"name"`
	Polygon   [][2]float64 `yaml:"polygon" json:"polygon"`
	Labels    []string     `yaml:"labels,omitempty" json:"labels,omitempty"`
	MinFrames int          `yaml:"min_frames,omitempty" json:"min_frames,omitempty"`
}

// Line counts objects crossing from one side to the other.
type Line struct {
	Name   string     `yaml:"name" json:"name"`
	From   [2]float64 `yaml:"from" json:"from"`
	To     [2]float64 `yaml:"to" json:"to"`
	Labels []string   `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// ModelsPath is the models directory: models_dir, or models/ beside the
// state file (beside the working directory without one).
func (c *Config) ModelsPath() string {
	if c.ModelsDir != "" {
		return c.ModelsDir
	}
	if c.State != "" {
		return filepath.Join(filepath.Dir(c.State), "models")
	}
	return "models"
}

// ModelFile turns a vision file field into a path: names resolve inside
// the models directory, absolute paths (config files only) stay.
func (c *Config) ModelFile(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(c.ModelsPath(), name)
}

// modelFields lists a Vision's file fields with their API names.
func modelFields(v *Vision) []struct{ field, value string } {
	return []struct{ field, value string }{
		{"vision.model", v.Model}, {"vision.model_config", v.ModelConfig},
		{"vision.classes", v.Classes}, {"vision.cascade", v.Cascade},
	}
}

// CheckModelFiles applies the models-directory rule to a source from the
// API (or the state file): each file field must name a regular file inside
// the models directory. A field equal to prev's (already accepted) value
// passes unchanged. Config-file sources use CheckConfigModelFiles.
func (c *Config) CheckModelFiles(v, prev *Vision) error {
	if v == nil {
		return nil
	}
	for i, f := range modelFields(v) {
		if f.value == "" || (prev != nil && modelFields(prev)[i].value == f.value) {
			continue
		}
		if _, err := InsideDir(c.ModelsPath(), f.value); err != nil {
			return fieldErr(f.field, "%v", err)
		}
	}
	return nil
}

// ErrOutsideModels is wrapped by InsideDir's refusals.
var ErrOutsideModels = errors.New("must name a file in the models directory")

// InsideDir resolves name inside dir and checks that it is a regular file
// there: no absolute paths, no "..", no symlinks leading out, no FIFOs or
// devices. It returns the path.
func InsideDir(dir, name string) (string, error) {
	if filepath.IsAbs(name) || !filepath.IsLocal(name) || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w (%q is not a plain relative name)", ErrOutsideModels, name)
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("models directory: %w", err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(root, name))
	if err != nil {
		return "", fmt.Errorf("%q: %w", name, unwrapPath(err))
	}
	if rel, err := filepath.Rel(root, real); err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w (%q leads outside it)", ErrOutsideModels, name)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%q: %w", name, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%q is not a regular file", name)
	}
	return filepath.Join(dir, name), nil
}

// unwrapPath drops the absolute path from a PathError, so answers do not
// reveal where the models directory lives.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkConfigModelFiles checks a config-file source's file fields: absolute
// paths are the operator's choice; relative ones follow the API's rule.
func (c *Config) checkConfigModelFiles(v *Vision) error {
	if v == nil {
		return nil
	}
	for _, f := range modelFields(v) {
		if f.value == "" {
			continue
		}
		if filepath.IsAbs(f.value) {
			if st, err := os.Stat(f.value); err != nil {
				return fieldErr(f.field, "%v", err)
			} else if !st.Mode().IsRegular() {
				return fieldErr(f.field, "%s is not a regular file", f.value)
			}
			continue
		}
		if _, err := InsideDir(c.ModelsPath(), f.value); err != nil {
			return fieldErr(f.field, "%v", err)
		}
	}
	return nil
}

package vision

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// Detector finds objects in one BGR image and returns boxes in that
// image's pixels. gocv objects are not goroutine-safe: a Detector is used by
// one goroutine only (each pool worker builds its own).
type Detector interface {
	Detect(img gocv.Mat) ([]media.Box, error)
	Close() error
}

// Factory builds a detector for a (defaulted, validated) config.
type Factory func(cfg Config) (Detector, error)

// DetectorError reports a detector that could not be built or failed.
type DetectorError struct {
	Detector string
	Err      error
}

func (e *DetectorError) Error() string {
	return "vision: detector " + e.Detector + ": " + e.Err.Error()
}

func (e *DetectorError) Unwrap() error { return e.Err }

// ErrNoCascade means no Haar cascade file was configured or found.
var ErrNoCascade = errors.New("haarcascade_frontalface_default.xml not found (install opencv-data or set cascade)")

// CascadeDirs are searched for Haar cascades when Config.Cascade is empty.
var CascadeDirs = []string{
	"/usr/share/opencv4/haarcascades",
	"/usr/share/opencv/haarcascades",
	"/usr/local/share/opencv4/haarcascades",
}

// NewDetector is the default Factory: the built-in detectors by name.
func NewDetector(cfg Config) (Detector, error) {
	var (
		d   Detector
		err error
	)
	switch cfg.Detector {
	case DetectorNone, "":
		d = noneDetector{}
	case DetectorPeople:
		d, err = newPeople(cfg)
	case DetectorFaces:
		d, err = newFaces(cfg)
	case DetectorMotion:
		d = newMotion(cfg)
	case DetectorDNN:
		d, err = newDNN(cfg)
	default:
		err = fmt.Errorf("unknown detector %q", cfg.Detector)
	}
	if err != nil {
		return nil, &DetectorError{Detector: cfg.Detector, Err: err}
	}
	return d, nil
}

type noneDetector struct{}

func (noneDetector) Detect(gocv.Mat) ([]media.Box, error) { return nil, nil }
func (noneDetector) Close() error                         { return nil }

// people is OpenCV's HOG + linear SVM pedestrian detector. Scores are the
// SVM margins of the grouped windows (0 at the decision boundary, ~1-3 for
// clear detections).
type people struct {
	hog      *hog
	minScore float32
	nms      float32
}

func newPeople(cfg Config) (*people, error) {
	h, err := newHOG()
	if err != nil {
		return nil, err
	}
	return &people{hog: h, minScore: cfg.MinScore, nms: cfg.NMS}, nil
}

func (p *people) Detect(img gocv.Mat) ([]media.Box, error) {
	// The 64x128 window needs an image at least that big.
	if img.Cols() < 64 || img.Rows() < 128 {
		return nil, nil
	}
	rs, err := p.hog.detect(img, 0, 8, 8, 1.05, 2)
	if err != nil {
		return nil, err
	}
	rs = nms(keepScore(rs, p.minScore), p.nms)
	return toBoxes(rs, func(int) string { return "person" }), nil
}

func (p *people) Close() error { p.hog.close(); return nil }

// faces is the Haar frontal-face cascade.
type faces struct {
	cc   *cascade
	gray gocv.Mat
}

func newFaces(cfg Config) (*faces, error) {
	path := cfg.Cascade
	if path == "" {
		path = findCascade("haarcascade_frontalface_default.xml")
		if path == "" {
			return nil, ErrNoCascade
		}
	}
	cc, err := newCascade(path)
	if err != nil {
		return nil, err
	}
	return &faces{cc: cc, gray: gocv.NewMat()}, nil
}

func (f *faces) Detect(img gocv.Mat) ([]media.Box, error) {
	gocv.CvtColor(img, &f.gray, gocv.ColorBGRToGray)
	gocv.EqualizeHist(f.gray, &f.gray)
	minSize := max(20, img.Cols()/40)
	rs, err := f.cc.detect(f.gray, 1.1, 5, minSize)
	if err != nil {
		return nil, err
	}
	return toBoxes(rs, func(int) string { return "face" }), nil
}

func (f *faces) Close() error {
	f.cc.close()
	return f.gray.Close()
}

// findCascade returns the first existing file called name in CascadeDirs.
func findCascade(name string) string {
	for _, dir := range CascadeDirs {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func keepScore(rs []rect, floor float32) []rect {
	if floor <= 0 {
		return rs
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Score >= floor {
			out = append(out, r)
		}
	}
	return out
}

func toBoxes(rs []rect, label func(class int) string) []media.Box {
	if len(rs) == 0 {
		return nil
	}
	out := make([]media.Box, len(rs))
	for i, r := range rs {
		out[i] = media.Box{X: r.X, Y: r.Y, W: r.W, H: r.H, Score: r.Score, ClassID: r.Class, Label: label(r.Class)}
	}
	return out
}

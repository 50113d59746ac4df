package vision

import (
	"image"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// motionWarmup frames are fed to a fresh background model before it is
// trusted: its first frame is all foreground.
const motionWarmup = 2

// sourceScaler is implemented by detectors whose settings are in source
// pixels; the worker tells them the detection/source width ratio.
type sourceScaler interface {
	setSourceScale(f float64)
}

// motion finds moving regions: MOG2 background subtraction, threshold
// (dropping shadows), opening against noise, dilation to join fragments,
// and the bounding boxes of the outer contours.
type motion struct {
	bg         gocv.BackgroundSubtractorMOG2
	gray, mask gocv.Mat
	open, grow gocv.Mat // structuring elements
	minArea    int      // source pixels
	scale      float64
	size       image.Point
	frames     int
}

func newMotion(cfg Config) *motion {
	return &motion{
		bg:      gocv.NewBackgroundSubtractorMOG2WithParams(300, 25, true),
		gray:    gocv.NewMat(),
		mask:    gocv.NewMat(),
		open:    gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(3, 3)),
		grow:    gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(9, 9)),
		minArea: cfg.MinArea,
		scale:   1,
	}
}

func (m *motion) setSourceScale(f float64) { m.scale = f }

func (m *motion) Detect(img gocv.Mat) ([]media.Box, error) {
	if sz := image.Pt(img.Cols(), img.Rows()); sz != m.size {
		m.size, m.frames = sz, 0 // MOG2 restarts on a new size
	}
	gocv.CvtColor(img, &m.gray, gocv.ColorBGRToGray)
	gocv.GaussianBlur(m.gray, &m.gray, image.Pt(5, 5), 0, 0, gocv.BorderDefault)
	m.bg.Apply(m.gray, &m.mask)
	if m.frames++; m.frames <= motionWarmup {
		return nil, nil
	}
	gocv.Threshold(m.mask, &m.mask, 200, 255, gocv.ThresholdBinary)
	gocv.MorphologyEx(m.mask, &m.mask, gocv.MorphOpen, m.open)
	gocv.Dilate(m.mask, &m.mask, m.grow)
	contours := gocv.FindContours(m.mask, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	minArea := int(float64(m.minArea) * m.scale * m.scale)
	var rs []rect
	for i := 0; i < contours.Size(); i++ {
		r := gocv.BoundingRect(contours.At(i))
		if r.Dx()*r.Dy() >= minArea {
			rs = append(rs, rect{X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy(), Score: 1})
		}
	}
	return toBoxes(rs, func(int) string { return "motion" }), nil
}

func (m *motion) Close() error {
	m.bg.Close()
	for _, mat := range []*gocv.Mat{&m.gray, &m.mask, &m.open, &m.grow} {
		mat.Close()
	}
	return nil
}

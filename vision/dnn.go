package vision

import (
	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/gateway/media"
)

// dnnDetector runs an object detection network through cv::dnn. The image
// is stretched to the square input (no letterbox), so boxes scale back per
// axis.
type dnnDetector struct {
	net   *net
	names []string
	cfg   Config
}

func newDNN(cfg Config) (*dnnDetector, error) {
	var names []string
	if cfg.Classes != "" {
		var err error
		if names, err = LoadClassNames(cfg.Classes); err != nil {
			return nil, err
		}
	}
	n, err := newNet(cfg.Model, cfg.ModelConfig, cfg.Backend, cfg.Target)
	if err != nil {
		return nil, err
	}
	return &dnnDetector{net: n, names: names, cfg: cfg}, nil
}

func (d *dnnDetector) Detect(img gocv.Mat) ([]media.Box, error) {
	in := d.cfg.InputSize
	t, err := d.net.forward(img, blobParams{
		W: in, H: in, Scale: d.cfg.Scale, Mean: d.cfg.Mean, SwapRB: !d.cfg.KeepBGR,
	})
	if err != nil {
		return nil, err
	}
	defer t.free()
	g := geometry{ImgW: img.Cols(), ImgH: img.Rows(), InW: in, InH: in}
	rs, err := decode(d.cfg.Format, t.Dims, t.Data, g, d.cfg.Confidence, len(d.names))
	if err != nil {
		return nil, err
	}
	rs = keepScore(classFilter(rs, d.cfg.ClassFilter, d.names), d.cfg.MinScore)
	rs = nms(rs, d.cfg.NMS)
	return toBoxes(rs, func(c int) string { return className(d.names, c) }), nil
}

func (d *dnnDetector) Close() error { d.net.close(); return nil }

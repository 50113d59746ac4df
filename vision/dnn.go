package vision

import (
	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// newDNN builds the model's detector on the configured runtime. Class
// names come from the classes file, else from the model's metadata.
func newDNN(cfg Config) (Detector, error) {
	if err := fileExists("model", cfg.Model); err != nil {
		return nil, err
	}
	var names []string
	if cfg.Classes != "" {
		if err := fileExists("classes", cfg.Classes); err != nil {
			return nil, err
		}
		var err error
		if names, err = LoadClassNames(cfg.Classes); err != nil {
			return nil, err
		}
	}
	if cfg.Runtime == RuntimeOpenCV {
		return newCVDNN(cfg, names)
	}
	return newORT(cfg, names)
}

// postprocess turns raw network output into labelled boxes.
type postprocess struct {
	names    []string
	conf     float32
	minScore float32
	nms      float32
	filter   []string
}

func newPostprocess(cfg Config, names []string) postprocess {
	return postprocess{names: names, conf: cfg.Confidence, minScore: cfg.MinScore, nms: cfg.NMS, filter: cfg.ClassFilter}
}

func (p postprocess) boxes(format string, dims []int, data []float32, g geometry) ([]media.Box, error) {
	rs, err := decode(format, dims, data, g, p.conf, len(p.names))
	if err != nil {
		return nil, err
	}
	rs = keepScore(classFilter(rs, p.filter, p.names), p.minScore)
	if f, _ := detectFormat(format, dims, len(p.names)); f != FormatEnd2End {
		rs = nms(rs, p.nms)
	}
	return toBoxes(rs, func(c int) string { return className(p.names, c) }), nil
}

// cvDNN runs a network through OpenCV's cv::dnn.
type cvDNN struct {
	net  *net
	post postprocess
	fit  *fitter
	cfg  Config
}

func newCVDNN(cfg Config, names []string) (*cvDNN, error) {
	n, err := newNet(cfg.Model, cfg.ModelConfig, cfg.Backend, cfg.Target)
	if err != nil {
		return nil, &RuntimeError{Runtime: RuntimeOpenCV, Op: "load", Model: cfg.Model, Err: err}
	}
	return &cvDNN{net: n, post: newPostprocess(cfg, names), fit: newFitter(cfg.Resize), cfg: cfg}, nil
}

func (d *cvDNN) Info() RuntimeInfo {
	p := d.cfg.Backend + "/" + d.cfg.Target
	if p == "/" {
		p = "cpu"
	}
	return RuntimeInfo{Runtime: RuntimeOpenCV, Provider: p, Classes: len(d.post.names)}
}

func (d *cvDNN) Detect(img gocv.Mat) ([]media.Box, error) {
	in, g := d.fit.fit(img, d.cfg.InputSize, d.cfg.InputSize)
	t, err := d.net.forward(in, blobParams{
		W: g.InW, H: g.InH, Scale: d.cfg.Scale, Mean: d.cfg.Mean, SwapRB: !d.cfg.KeepBGR,
	})
	if err != nil {
		return nil, &RuntimeError{Runtime: RuntimeOpenCV, Op: "forward", Model: d.cfg.Model, Err: err}
	}
	defer t.free()
	return d.post.boxes(d.cfg.Format, t.Dims, t.Data, g)
}

func (d *cvDNN) Close() error {
	d.fit.close()
	d.net.close()
	return nil
}

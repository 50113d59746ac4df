package vision

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// FrameError reports a frame whose planes do not match its size.
type FrameError struct {
	Width, Height int
	Reason        string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("vision: frame %dx%d: %s", e.Width, e.Height, e.Reason)
}

// sample is the copy of a frame handed to a worker: the planes packed
// contiguously (I420: Y, U, V; NV12: Y, UV) and cropped to even size.
type sample struct {
	buf    []byte
	layout media.PixelLayout
	w, h   int
}

// copyFrame packs f's planes into buf (grown when short). Only the video
// path's cost of sampling: one memcpy per row, no conversion.
func copyFrame(f *media.Frame, buf []byte) (sample, error) {
	w, h := f.Width&^1, f.Height&^1
	if w < 2 || h < 2 {
		return sample{}, &FrameError{f.Width, f.Height, "too small"}
	}
	if f.Layout != media.LayoutI420 && f.Layout != media.LayoutNV12 {
		return sample{}, &FrameError{f.Width, f.Height, "unknown layout"}
	}
	if err := checkPlanes(f, w, h); err != nil {
		return sample{}, err
	}
	n := w * h * 3 / 2
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	copyPlane(buf[:w*h], f.Planes[0], f.Strides[0], w, h)
	if f.Layout == media.LayoutNV12 {
		copyPlane(buf[w*h:], f.Planes[1], f.Strides[1], w, h/2)
	} else {
		q := w * h / 4
		copyPlane(buf[w*h:w*h+q], f.Planes[1], f.Strides[1], w/2, h/2)
		copyPlane(buf[w*h+q:], f.Planes[2], f.Strides[2], w/2, h/2)
	}
	return sample{buf: buf, layout: f.Layout, w: w, h: h}, nil
}

// checkPlanes makes sure every row the copy or the overlay touches exists.
func checkPlanes(f *media.Frame, w, h int) error {
	need := func(p, rows, cols int) bool {
		return f.Strides[p] >= cols && len(f.Planes[p]) >= (rows-1)*f.Strides[p]+cols
	}
	ok := need(0, h, w)
	if f.Layout == media.LayoutNV12 {
		ok = ok && need(1, h/2, w)
	} else {
		ok = ok && need(1, h/2, w/2) && need(2, h/2, w/2)
	}
	if !ok {
		return &FrameError{f.Width, f.Height, "planes shorter than the picture"}
	}
	return nil
}

func copyPlane(dst, src []byte, stride, w, h int) {
	if stride == w {
		copy(dst, src[:w*h])
		return
	}
	for y := 0; y < h; y++ {
		copy(dst[y*w:(y+1)*w], src[y*stride:y*stride+w])
	}
}

// detSize is the detection image size for a w x h picture: at most width
// wide, aspect kept, even (YUV 4:2:0 needs it).
func detSize(w, h, width int) (int, int) {
	dw := min(width, w) &^ 1
	dh := int(float64(h)*float64(dw)/float64(w)+0.5) &^ 1
	return dw, max(dh, 2)
}

// converter turns samples into small BGR images; it belongs to one worker,
// which owns (and closes) its Mat.
type converter struct {
	small []byte
	bgr   gocv.Mat
}

func newConverter() *converter { return &converter{bgr: gocv.NewMat()} }

func (c *converter) close() { c.bgr.Close() }

// toBGR downscales the planes (area filter, still in YUV: a quarter of the
// work of scaling BGR) and converts the small picture. The result stays
// owned by c and is valid until the next call.
func (c *converter) toBGR(s sample, width int) (gocv.Mat, error) {
	dw, dh := detSize(s.w, s.h, width)
	yuv := s.buf
	if dw != s.w || dh != s.h {
		n := dw * dh * 3 / 2
		if cap(c.small) < n {
			c.small = make([]byte, n)
		}
		yuv = c.small[:n]
		if err := scalePlanes(s, yuv, dw, dh); err != nil {
			return gocv.Mat{}, err
		}
	}
	m, err := gocv.NewMatFromBytes(dh*3/2, dw, gocv.MatTypeCV8UC1, yuv)
	if err != nil {
		return gocv.Mat{}, err
	}
	defer m.Close()
	code := gocv.ColorYUVToBGRIYUV
	if s.layout == media.LayoutNV12 {
		code = gocv.ColorYUVToBGRNV12
	}
	gocv.CvtColor(m, &c.bgr, code)
	return c.bgr, nil
}

func scalePlanes(s sample, dst []byte, dw, dh int) error {
	sy, dy := s.w*s.h, dw*dh
	if err := resizePlane(s.buf[:sy], s.w, s.h, dst[:dy], dw, dh, gocv.MatTypeCV8UC1); err != nil {
		return err
	}
	if s.layout == media.LayoutNV12 {
		return resizePlane(s.buf[sy:], s.w/2, s.h/2, dst[dy:], dw/2, dh/2, gocv.MatTypeCV8UC2)
	}
	sq, dq := sy/4, dy/4
	if err := resizePlane(s.buf[sy:sy+sq], s.w/2, s.h/2, dst[dy:dy+dq], dw/2, dh/2, gocv.MatTypeCV8UC1); err != nil {
		return err
	}
	return resizePlane(s.buf[sy+sq:], s.w/2, s.h/2, dst[dy+dq:], dw/2, dh/2, gocv.MatTypeCV8UC1)
}

// resizePlane scales one plane between Go buffers through Mat headers
// over them (no copies).
func resizePlane(src []byte, sw, sh int, dst []byte, dw, dh int, t gocv.MatType) error {
	sm, err := gocv.NewMatFromBytes(sh, sw, t, src)
	if err != nil {
		return err
	}
	defer sm.Close()
	dm, err := gocv.NewMatFromBytes(dh, dw, t, dst)
	if err != nil {
		return err
	}
	defer dm.Close()
	gocv.Resize(sm, &dm, image.Pt(dw, dh), 0, 0, gocv.InterpolationArea)
	// cv::resize writes in place when size and type already match; copy
	// back in case it ever reallocates.
	if p, err := dm.DataPtrUint8(); err == nil && len(p) > 0 && &p[0] != &dst[0] {
		copy(dst, p)
	}
	return nil
}

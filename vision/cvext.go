package vision

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "cvext.h"
*/
import "C"

import (
	"errors"
	"unsafe"

	"gocv.io/x/gocv"
)

// maxBoxes bounds what one native detection call can return.
const maxBoxes = 256

const errLen = 512

// OpenCVError is an exception raised inside OpenCV, caught before it could
// cross cgo (where it would abort the process).
type OpenCVError struct {
	Op  string
	Msg string
}

func (e *OpenCVError) Error() string { return "opencv " + e.Op + ": " + e.Msg }

// SetOpenCVThreads bounds the threads OpenCV uses inside one call, process
// wide (n ≤ 0 restores OpenCV's default, all cores; 1 runs sequentially).
// With several pool workers, 1 keeps detectors from crowding out decoding
// and encoding: the pool is then the only parallelism.
func SetOpenCVThreads(n int) {
	if n <= 0 {
		n = -1
	}
	C.vg_set_num_threads(C.int(n))
}

// errBuf is a C buffer for error messages.
type errBuf struct{ p *C.char }

func newErrBuf() errBuf { return errBuf{(*C.char)(C.calloc(errLen, 1))} }

func (b errBuf) free() { C.free(unsafe.Pointer(b.p)) }

func (b errBuf) err(op string) error {
	return &OpenCVError{Op: op, Msg: C.GoString(b.p)}
}

// cImage describes a continuous 8-bit gocv Mat without copying it.
func cImage(m gocv.Mat) (C.VGImage, error) {
	data, err := m.DataPtrUint8()
	if err != nil {
		return C.VGImage{}, err
	}
	if len(data) == 0 {
		return C.VGImage{}, errors.New("empty image")
	}
	return C.VGImage{
		data: (*C.uchar)(unsafe.Pointer(&data[0])),
		rows: C.int(m.Rows()), cols: C.int(m.Cols()),
		step: C.int(m.Step()), _type: C.int(m.Type()),
	}, nil
}

// nativeBoxes runs a native detector call into a box buffer.
type nativeBoxes struct {
	buf *C.VGBox
}

func newNativeBoxes() nativeBoxes {
	return nativeBoxes{(*C.VGBox)(C.calloc(maxBoxes, C.size_t(unsafe.Sizeof(C.VGBox{}))))}
}

func (n nativeBoxes) free() { C.free(unsafe.Pointer(n.buf)) }

func (n nativeBoxes) rects(count int) []rect {
	src := unsafe.Slice(n.buf, maxBoxes)[:count]
	out := make([]rect, count)
	for i, b := range src {
		out[i] = rect{X: int(b.x), Y: int(b.y), W: int(b.w), H: int(b.h), Score: float32(b.score)}
	}
	return out
}

// rect is a detection in detection-image pixels.
type rect struct {
	X, Y, W, H int
	Score      float32
	Class      int
}

// hog wraps cv::HOGDescriptor with the default people SVM.
type hog struct {
	p   unsafe.Pointer
	out nativeBoxes
}

func newHOG() (*hog, error) {
	e := newErrBuf()
	defer e.free()
	p := C.vg_hog_new(e.p, errLen)
	if p == nil {
		return nil, e.err("HOGDescriptor")
	}
	return &hog{p: p, out: newNativeBoxes()}, nil
}

func (h *hog) detect(img gocv.Mat, hit float64, stride, pad int, scale, group float64) ([]rect, error) {
	im, err := cImage(img)
	if err != nil {
		return nil, err
	}
	e := newErrBuf()
	defer e.free()
	n := C.vg_hog_detect(h.p, im, C.double(hit), C.int(stride), C.int(pad),
		C.double(scale), C.double(group), h.out.buf, maxBoxes, e.p, errLen)
	if n < 0 {
		return nil, e.err("HOG detectMultiScale")
	}
	return h.out.rects(int(n)), nil
}

func (h *hog) close() {
	if h.p != nil {
		C.vg_hog_free(h.p)
		h.out.free()
		h.p = nil
	}
}

// cascade wraps cv::CascadeClassifier.
type cascade struct {
	p   unsafe.Pointer
	out nativeBoxes
}

func newCascade(path string) (*cascade, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	e := newErrBuf()
	defer e.free()
	p := C.vg_cascade_new(cpath, e.p, errLen)
	if p == nil {
		return nil, e.err("CascadeClassifier " + path)
	}
	return &cascade{p: p, out: newNativeBoxes()}, nil
}

func (c *cascade) detect(gray gocv.Mat, scale float64, neighbors, minSize int) ([]rect, error) {
	im, err := cImage(gray)
	if err != nil {
		return nil, err
	}
	e := newErrBuf()
	defer e.free()
	n := C.vg_cascade_detect(c.p, im, C.double(scale), C.int(neighbors), C.int(minSize),
		c.out.buf, maxBoxes, e.p, errLen)
	if n < 0 {
		return nil, e.err("CascadeClassifier detectMultiScale")
	}
	return c.out.rects(int(n)), nil
}

func (c *cascade) close() {
	if c.p != nil {
		C.vg_cascade_free(c.p)
		c.out.free()
		c.p = nil
	}
}

package vision

/*
#include <stdlib.h>
#include "cvext.h"
*/
import "C"

import (
	"unsafe"

	"gocv.io/x/gocv"
)

// net wraps cv::dnn::Net; loading and inference errors come back as
// OpenCVError instead of aborting the process.
type net struct {
	p unsafe.Pointer
}

// blobParams say how an image becomes the network input.
type blobParams struct {
	W, H   int
	Scale  float64
	Mean   float64
	SwapRB bool
}

// tensor is a network output, valid until free.
type tensor struct {
	Dims []int
	Data []float32
	t    C.VGTensor
}

func newNet(model, config, backend, target string) (*net, error) {
	cm, cc := C.CString(model), C.CString(config)
	defer C.free(unsafe.Pointer(cm))
	defer C.free(unsafe.Pointer(cc))
	e := newErrBuf()
	defer e.free()
	p := C.vg_net_new(cm, cc, C.int(gocv.ParseNetBackend(backend)),
		C.int(gocv.ParseNetTarget(target)), e.p, errLen)
	if p == nil {
		return nil, e.err("readNet " + model)
	}
	return &net{p: p}, nil
}

// forward runs img (8-bit BGR) through the network.
func (n *net) forward(img gocv.Mat, bp blobParams) (*tensor, error) {
	im, err := cImage(img)
	if err != nil {
		return nil, err
	}
	e := newErrBuf()
	defer e.free()
	out := &tensor{}
	swap := 0
	if bp.SwapRB {
		swap = 1
	}
	m := C.double(bp.Mean)
	if C.vg_net_forward(n.p, im, C.double(bp.Scale), m, m, m, C.int(bp.W), C.int(bp.H),
		C.int(swap), &out.t, e.p, errLen) != 0 {
		return nil, e.err("dnn forward")
	}
	out.Dims = make([]int, int(out.t.ndims))
	for i := range out.Dims {
		out.Dims[i] = int(out.t.dims[i])
	}
	if out.t.total > 0 {
		out.Data = unsafe.Slice((*float32)(unsafe.Pointer(out.t.data)), int(out.t.total))
	}
	return out, nil
}

func (t *tensor) free() {
	C.vg_tensor_free(&t.t)
	t.Data = nil
}

func (n *net) close() {
	if n.p != nil {
		C.vg_net_free(n.p)
		n.p = nil
	}
}

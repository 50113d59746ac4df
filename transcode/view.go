package transcode

//#cgo pkg-config: libavutil
//#include <libavutil/frame.h>
import "C"

import (
	"errors"
	"unsafe"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/media"
)

// ErrLayout means a frame is not in a layout frame stages understand.
var ErrLayout = errors.New("frame is neither yuv420p nor nv12")

// FrameView exposes f's planes without copying. The view is valid while f
// keeps its buffers; write to it only after MakeWritable.
func FrameView(f *astiav.Frame, pts int64) (media.Frame, error) {
	v := media.Frame{Width: f.Width(), Height: f.Height(), PTS: pts}
	planes := 3
	switch f.PixelFormat() {
	case astiav.PixelFormatYuv420P, astiav.PixelFormatYuvj420P:
		v.Layout = media.LayoutI420
	case astiav.PixelFormatNv12:
		v.Layout, planes = media.LayoutNV12, 2
	default:
		return v, ErrLayout
	}
	cf := (*C.AVFrame)(f.UnsafePointer())
	for i := 0; i < planes; i++ {
		h := v.Height
		if i > 0 {
			h = (h + 1) / 2
		}
		stride := int(cf.linesize[i])
		v.Strides[i] = stride
		v.Planes[i] = unsafe.Slice((*byte)(unsafe.Pointer(cf.data[i])), stride*h)
	}
	return v, nil
}

// MakeWritable gives f buffers of its own when a decoder or encoder still
// shares them, so drawing on f cannot corrupt reference pictures.
func MakeWritable(f *astiav.Frame) error { return makeWritable(f) }

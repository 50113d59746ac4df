//go:build jpeg_gocv

// Option (b) of the JPEG encoder choice, OpenCV's imencode; behind a tag
// so that ordinary test runs need not link OpenCV:
// go test -tags jpeg_gocv -run x -bench JPEG720p ./transcode/

package transcode

import (
	"github.com/asticode/go-astiav"
	"gocv.io/x/gocv"
)

// gocvJPEGEncoder packs the planes, converts them to BGR and lets
// OpenCV's libjpeg-turbo convert back to YCbCr and encode.
type gocvJPEGEncoder struct {
	buf     []byte
	bgr     gocv.Mat
	quality int
}

func (e *gocvJPEGEncoder) Encode(f *astiav.Frame) ([]byte, error) {
	n, err := f.ImageBufferSize(1)
	if err != nil {
		return nil, err
	}
	if cap(e.buf) < n {
		e.buf = make([]byte, n)
	}
	if _, err := f.ImageCopyToBuffer(e.buf[:n], 1); err != nil {
		return nil, err
	}
	yuv, err := gocv.NewMatFromBytes(f.Height()*3/2, f.Width(), gocv.MatTypeCV8UC1, e.buf[:n])
	if err != nil {
		return nil, err
	}
	defer yuv.Close()
	gocv.CvtColor(yuv, &e.bgr, gocv.ColorYUVToBGRIYUV)
	out, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, e.bgr, []int{gocv.IMWriteJpegQuality, e.quality})
	if err != nil {
		return nil, err
	}
	defer out.Close()
	return append([]byte(nil), out.GetBytes()...), nil
}

func (e *gocvJPEGEncoder) Close() { e.bgr.Close() }

func init() {
	benchEncoders["gocv-q80"] = func() (jpegEncoder, error) {
		return &gocvJPEGEncoder{bgr: gocv.NewMat(), quality: 80}, nil
	}
}

package transcode

//#cgo pkg-config: libavutil
//#include <libavutil/frame.h>
import "C"

import (
	"fmt"

	"github.com/asticode/go-astiav"
)

// Converter scales and converts frames to one size and pixel format,
// reusing its output frame. It passes frames through untouched when they
// already match.
type Converter struct {
	ssc        *astiav.SoftwareScaleContext
	dst        *astiav.Frame
	srcW, srcH int
	srcFmt     astiav.PixelFormat
	dstW, dstH int
	dstFmt     astiav.PixelFormat
}

// NewConverter makes frames of w×h in format pf.
func NewConverter(w, h int, pf astiav.PixelFormat) *Converter {
	return &Converter{dstW: w, dstH: h, dstFmt: pf}
}

// Convert returns src when it already matches, else the converted frame,
// which stays owned by the Converter and is valid until the next call.
func (c *Converter) Convert(src *astiav.Frame) (*astiav.Frame, error) {
	if src.Width() == c.dstW && src.Height() == c.dstH && src.PixelFormat() == c.dstFmt {
		return src, nil
	}
	if err := checkScalable(src); err != nil {
		return nil, err
	}
	if err := c.ensureContext(src); err != nil {
		return nil, err
	}
	if err := makeWritable(c.dst); err != nil {
		return nil, err
	}
	if err := c.ssc.ScaleFrame(src, c.dst); err != nil {
		return nil, fmt.Errorf("scaling frame: %w", err)
	}
	c.dst.SetPts(src.Pts())
	return c.dst, nil
}

// ensureContext (re)creates the scaler when the input size or format
// changes mid-stream.
func (c *Converter) ensureContext(src *astiav.Frame) error {
	if c.ssc != nil && src.Width() == c.srcW && src.Height() == c.srcH && src.PixelFormat() == c.srcFmt {
		return nil
	}
	c.Close()
	ssc, err := astiav.CreateSoftwareScaleContext(src.Width(), src.Height(), src.PixelFormat(),
		c.dstW, c.dstH, c.dstFmt, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBilinear))
	if err != nil {
		return fmt.Errorf("creating scaler %dx%d %s → %dx%d %s: %w", src.Width(), src.Height(),
			src.PixelFormat(), c.dstW, c.dstH, c.dstFmt, err)
	}
	c.ssc = ssc
	c.srcW, c.srcH, c.srcFmt = src.Width(), src.Height(), src.PixelFormat()
	c.dst = astiav.AllocFrame()
	c.dst.SetWidth(c.dstW)
	c.dst.SetHeight(c.dstH)
	c.dst.SetPixelFormat(c.dstFmt)
	if err := c.dst.AllocBuffer(0); err != nil {
		return fmt.Errorf("allocating scaled frame: %w", err)
	}
	return nil
}

// Close frees the scaler and its frame.
func (c *Converter) Close() {
	if c.ssc != nil {
		c.ssc.Free()
		c.ssc = nil
	}
	if c.dst != nil {
		c.dst.Free()
		c.dst = nil
	}
}

// makeWritable gives f its own buffer if an encoder still holds a
// reference to the current one; usually it does nothing.
func makeWritable(f *astiav.Frame) error {
	if ret := C.av_frame_make_writable((*C.AVFrame)(f.UnsafePointer())); ret < 0 {
		return fmt.Errorf("making frame writable: error %d", int(ret))
	}
	return nil
}

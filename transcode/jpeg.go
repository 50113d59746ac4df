package transcode

import (
	"errors"

	"github.com/asticode/go-astiav"
)

// JPEGEncoder turns frames into JPEG pictures of one size with
// libjpeg-turbo's TurboJPEG, straight from the frame's 4:2:0 planes: no
// colour conversion, and for TV-range frames only a vectorised stretch to
// JPEG's full range (a copy also pads odd sizes). Other sizes and formats
// go through swscale first.
type JPEGEncoder struct {
	tj      *turboJPEG
	conv    *Converter
	quality int
	w, h    int
}

// NewJPEGEncoder makes w×h pictures at quality q, given on libav's MJPEG
// qscale (2 best … 31 worst) and mapped to a libjpeg quality that looks
// the same.
func NewJPEGEncoder(w, h, q int) (*JPEGEncoder, error) {
	tj, err := newTurboJPEG(w, h)
	if err != nil {
		return nil, err
	}
	// yuvj420p: swscale stretches TV range to JPEG's full range in the
	// same pass as scaling.
	return &JPEGEncoder{tj: tj, conv: NewConverter(w, h, astiav.PixelFormatYuvj420P),
		quality: turboQuality(q), w: w, h: h}, nil
}

// Size is the picture size this encoder makes.
func (e *JPEGEncoder) Size() (int, int) { return e.w, e.h }

// Encode returns src as a JPEG in a fresh byte slice.
func (e *JPEGEncoder) Encode(src *astiav.Frame) ([]byte, error) {
	if e.tj.closed() {
		return nil, errors.New("jpeg: encoder closed") // and conv would leak a new scaler
	}
	f := src
	if !e.direct(src) {
		var err error
		if f, err = e.conv.Convert(src); err != nil {
			return nil, err
		}
	}
	return e.tj.compress(f, !fullRange(f), e.quality)
}

// direct tells whether TurboJPEG can read src's planes as they are.
func (e *JPEGEncoder) direct(src *astiav.Frame) bool {
	pf := src.PixelFormat()
	return src.Width() == e.w && src.Height() == e.h &&
		(pf == astiav.PixelFormatYuv420P || pf == astiav.PixelFormatYuvj420P)
}

// fullRange tells whether f's samples already span 0…255. Decoders leave
// the range unspecified for ordinary (TV range) H.264, so only an
// explicit JPEG range or the yuvj format counts.
func fullRange(f *astiav.Frame) bool {
	return f.PixelFormat() == astiav.PixelFormatYuvj420P || f.ColorRange() == astiav.ColorRangeJpeg
}

// turboQuality maps libav's MJPEG qscale to a libjpeg quality. libav
// scales its tables linearly with qscale, libjpeg by 200-2Q percent
// (5000/Q below 50), so the table scale is 8·qscale percent: qscale 5 is
// quality 80, whose luma PSNR measured equal to libav's (±0.3 dB on
// photos; ±0.7 dB for qscale 2…6; coarser qscales come out finer).
func turboQuality(q int) int {
	s := 8 * max(q, 1)
	if s <= 100 {
		return 100 - s/2
	}
	return max(1, 5000/s)
}

// Close frees the encoder; safe to call twice.
func (e *JPEGEncoder) Close() {
	e.tj.close()
	e.conv.Close()
}

package transcode

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// JPEGEncoder turns frames into JPEG pictures of one size with libav's
// MJPEG encoder, converting size and range as needed.
type JPEGEncoder struct {
	cc   *astiav.CodecContext
	conv *Converter
	pkt  *astiav.Packet
	w, h int
}

// NewJPEGEncoder makes w×h pictures at quality q (2 best … 31 worst).
func NewJPEGEncoder(w, h, q int) (*JPEGEncoder, error) {
	codec := astiav.FindEncoder(astiav.CodecIDMjpeg)
	if codec == nil {
		return nil, errors.New("transcode: no MJPEG encoder in this libav build")
	}
	e := &JPEGEncoder{cc: astiav.AllocCodecContext(codec), w: w, h: h}
	e.cc.SetWidth(w)
	e.cc.SetHeight(h)
	e.cc.SetPixelFormat(astiav.PixelFormatYuvj420P)
	e.cc.SetTimeBase(astiav.NewRational(1, 90000))
	opts := astiav.NewDictionary()
	defer opts.Free()
	// Equal qmin and qmax give a constant quality without rate control.
	_ = opts.Set("qmin", strconv.Itoa(q), 0)
	_ = opts.Set("qmax", strconv.Itoa(q), 0)
	if err := e.cc.Open(codec, opts); err != nil {
		e.cc.Free()
		return nil, fmt.Errorf("opening MJPEG encoder: %w", err)
	}
	e.conv = NewConverter(w, h, astiav.PixelFormatYuvj420P)
	e.pkt = astiav.AllocPacket()
	return e, nil
}

// Size is the picture size this encoder makes.
func (e *JPEGEncoder) Size() (int, int) { return e.w, e.h }

// Encode returns src as a JPEG in a fresh byte slice.
func (e *JPEGEncoder) Encode(src *astiav.Frame) ([]byte, error) {
	f, err := e.conv.Convert(src)
	if err != nil {
		return nil, err
	}
	if err := e.cc.SendFrame(f); err != nil {
		return nil, fmt.Errorf("jpeg: %w", err)
	}
	if err := e.cc.ReceivePacket(e.pkt); err != nil {
		return nil, fmt.Errorf("jpeg: %w", err)
	}
	defer e.pkt.Unref()
	return append([]byte(nil), e.pkt.Data()...), nil
}

// Close frees the encoder.
func (e *JPEGEncoder) Close() {
	e.cc.Free()
	e.conv.Close()
	e.pkt.Free()
}

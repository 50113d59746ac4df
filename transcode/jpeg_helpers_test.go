package transcode

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/visiongate/visiongate/internal/testmedia"
)

// decodedFrame returns a real H.264-decoded yuv420p frame of w×h (lavfi
// testsrc2 through libx264 and back), freed when tb ends.
func decodedFrame(tb testing.TB, w, h int) *astiav.Frame {
	tb.Helper()
	return firstFrame(tb, testmedia.Make(tb, testmedia.Clip{Width: w, Height: h, FPS: 25, Seconds: 0.2}))
}

// firstFrame decodes the first picture of the file at path.
func firstFrame(tb testing.TB, path string) *astiav.Frame {
	tb.Helper()
	in, err := OpenInput(tb.Context(), InputOptions{URL: path, Whitelist: "file"})
	if err != nil {
		tb.Fatalf("OpenInput: %v", err)
	}
	defer in.Close()
	dec, err := NewDecoder(in.Info().Params, "none")
	if err != nil {
		tb.Fatal(err)
	}
	defer dec.Close()
	f := astiav.AllocFrame()
	tb.Cleanup(f.Free)
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	for {
		if err := in.ReadPacket(tb.Context(), pkt); errors.Is(err, ErrEndOfStream) {
			_ = dec.SendPacket(nil)
		} else if err != nil {
			tb.Fatalf("ReadPacket: %v", err)
		} else if err := dec.SendPacket(pkt); err != nil {
			tb.Fatalf("SendPacket: %v", err)
		}
		pkt.Unref()
		if dec.ReceiveFrame(f) == nil {
			return f
		}
	}
}

// fullPlanes is a picture's full-range 4:2:0 planes, packed.
type fullPlanes struct {
	y, cb, cr []byte
	w, h      int
}

// referencePlanes returns src as JPEG would hold it ideally: swscale's
// full-range (yuvj420p) version, the former encoder's input.
func referencePlanes(tb testing.TB, src *astiav.Frame) fullPlanes {
	tb.Helper()
	conv := NewConverter(src.Width(), src.Height(), astiav.PixelFormatYuvj420P)
	defer conv.Close()
	f, err := conv.Convert(src)
	if err != nil {
		tb.Fatal(err)
	}
	return packedPlanes(tb, f)
}

func packedPlanes(tb testing.TB, f *astiav.Frame) fullPlanes {
	tb.Helper()
	buf, err := f.Data().Bytes(1)
	if err != nil {
		tb.Fatal(err)
	}
	w, h := f.Width(), f.Height()
	ny, nc := w*h, ((w+1)/2)*((h+1)/2)
	return fullPlanes{y: buf[:ny], cb: buf[ny : ny+nc], cr: buf[ny+nc : ny+2*nc], w: w, h: h}
}

// decodeJPEG decodes data with Go's image/jpeg and wants 4:2:0 YCbCr.
func decodeJPEG(tb testing.TB, data []byte) *image.YCbCr {
	tb.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("image/jpeg: %v", err)
	}
	ycc, ok := img.(*image.YCbCr)
	if !ok || ycc.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		tb.Fatalf("decoded %T, want 4:2:0 YCbCr", img)
	}
	return ycc
}

// planePSNR compares a w×h plane of the picture (stride ps) with a
// packed reference, in dB.
func planePSNR(pic []byte, ps int, ref []byte, w, h int) float64 {
	var se float64
	for y := range h {
		for x := range w {
			d := float64(pic[y*ps+x]) - float64(ref[y*w+x])
			se += d * d
		}
	}
	if se == 0 {
		return 99
	}
	return 10 * math.Log10(255*255*float64(w*h)/se)
}

// jpegPSNR is the luma and the mean chroma PSNR of a JPEG against ref.
func jpegPSNR(tb testing.TB, data []byte, ref fullPlanes) (luma, chroma float64) {
	tb.Helper()
	img := decodeJPEG(tb, data)
	cw, ch := (ref.w+1)/2, (ref.h+1)/2
	luma = planePSNR(img.Y, img.YStride, ref.y, ref.w, ref.h)
	chroma = (planePSNR(img.Cb, img.CStride, ref.cb, cw, ch) + planePSNR(img.Cr, img.CStride, ref.cr, cw, ch)) / 2
	return luma, chroma
}

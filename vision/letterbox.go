package vision

import (
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// Ways of fitting the detection image to the network input.
const (
	// ResizeLetterbox keeps the aspect ratio and pads with grey (114), as
	// the Ultralytics exporters and trainers do.
	ResizeLetterbox = "letterbox"
	// ResizeStretch scales each axis on its own (older SSD exports).
	ResizeStretch = "stretch"
)

// letterboxPad is Ultralytics' padding grey.
const letterboxPad = 114

// geometry maps network-input coordinates back to the detection image:
// image = (input - pad) / scale, per axis.
type geometry struct {
	ImgW, ImgH int // detection image
	InW, InH   int // network input
	SX, SY     float32
	PadX, PadY float32
}

// stretchGeometry scales each axis independently.
func stretchGeometry(imgW, imgH, inW, inH int) geometry {
	return geometry{ImgW: imgW, ImgH: imgH, InW: inW, InH: inH,
		SX: float32(inW) / float32(imgW), SY: float32(inH) / float32(imgH)}
}

// letterboxGeometry matches Ultralytics' LetterBox(center=True): one scale,
// the unpadded size rounded, the padding split with the odd pixel at the
// bottom/right.
func letterboxGeometry(imgW, imgH, inW, inH int) (geometry, image.Point) {
	r := math.Min(float64(inW)/float64(imgW), float64(inH)/float64(imgH))
	nw, nh := int(math.Round(float64(imgW)*r)), int(math.Round(float64(imgH)*r))
	dw, dh := float64(inW-nw)/2, float64(inH-nh)/2
	left, top := int(math.Round(dw-0.1)), int(math.Round(dh-0.1))
	g := geometry{ImgW: imgW, ImgH: imgH, InW: inW, InH: inH,
		SX: float32(nw) / float32(imgW), SY: float32(nh) / float32(imgH),
		PadX: float32(left), PadY: float32(top)}
	return g, image.Pt(nw, nh)
}

// toImage maps a point in network-input pixels to detection-image pixels.
func (g geometry) toImage(x, y float32) (float32, float32) {
	return (x - g.PadX) / g.SX, (y - g.PadY) / g.SY
}

// fitter prepares network inputs; it owns its scratch Mats.
type fitter struct {
	mode    string
	resized gocv.Mat
	boxed   gocv.Mat
}

func newFitter(mode string) *fitter {
	return &fitter{mode: mode, resized: gocv.NewMat(), boxed: gocv.NewMat()}
}

// fit returns img scaled (and padded) to inW x inH, valid until the next
// call, and the geometry that maps results back.
func (f *fitter) fit(img gocv.Mat, inW, inH int) (gocv.Mat, geometry) {
	w, h := img.Cols(), img.Rows()
	if f.mode == ResizeStretch {
		g := stretchGeometry(w, h, inW, inH)
		if w == inW && h == inH {
			return img, g
		}
		gocv.Resize(img, &f.resized, image.Pt(inW, inH), 0, 0, gocv.InterpolationLinear)
		return f.resized, g
	}
	g, size := letterboxGeometry(w, h, inW, inH)
	src := img
	if size.X != w || size.Y != h {
		gocv.Resize(img, &f.resized, size, 0, 0, gocv.InterpolationLinear)
		src = f.resized
	}
	top, left := int(g.PadY), int(g.PadX)
	bottom, right := inH-size.Y-top, inW-size.X-left
	if top == 0 && left == 0 && bottom == 0 && right == 0 {
		return src, g
	}
	grey := color.RGBA{letterboxPad, letterboxPad, letterboxPad, 0}
	gocv.CopyMakeBorder(src, &f.boxed, top, bottom, left, right, gocv.BorderConstant, grey)
	return f.boxed, g
}

func (f *fitter) close() {
	f.resized.Close()
	f.boxed.Close()
}

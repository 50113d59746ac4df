package vision

import (
	"image"
	"image/color"
	"sync"

	"gocv.io/x/gocv"
)

// Labels are drawn from glyph masks rendered once per character and size
// with OpenCV's Hershey font, then blended into the Y plane: the video path
// never converts a whole frame to BGR to draw text.

type glyph struct {
	w, h  int
	alpha []byte // w*h coverage, row-major
}

type face struct {
	scale  float64
	thick  int
	ascent int // baseline row inside a glyph mask
	lineH  int

	mu     sync.Mutex
	glyphs map[rune]*glyph
}

var fontFaces struct {
	mu sync.Mutex
	m  map[int]*face
}

// faceFor picks a text size readable on a frame frameH pixels high.
func faceFor(frameH int) *face {
	key := clampInt((frameH+50)/100, 3, 20) // tenths of Hershey scale
	fontFaces.mu.Lock()
	defer fontFaces.mu.Unlock()
	if f := fontFaces.m[key]; f != nil {
		return f
	}
	if fontFaces.m == nil {
		fontFaces.m = map[int]*face{}
	}
	f := newFace(float64(key)/10, 1+key/10)
	fontFaces.m[key] = f
	return f
}

func newFace(scale float64, thick int) *face {
	sz, base := gocv.GetTextSizeWithBaseline("Ag", gocv.FontHersheySimplex, scale, thick)
	return &face{
		scale: scale, thick: thick,
		ascent: sz.Y + 1, lineH: sz.Y + base + 2,
		glyphs: map[rune]*glyph{},
	}
}

func (f *face) glyph(r rune) *glyph {
	if r < ' ' || r > '~' {
		r = '?'
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.glyphs[r]; g != nil {
		return g
	}
	g := f.render(r)
	f.glyphs[r] = g
	return g
}

func (f *face) render(r rune) *glyph {
	s := string(r)
	sz := gocv.GetTextSize(s, gocv.FontHersheySimplex, f.scale, f.thick)
	w := max(sz.X, 1)
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), f.lineH, w, gocv.MatTypeCV8UC1)
	defer m.Close()
	gocv.PutTextWithParams(&m, s, image.Pt(0, f.ascent), gocv.FontHersheySimplex, f.scale,
		color.RGBA{255, 255, 255, 255}, f.thick, gocv.LineAA, false)
	return &glyph{w: w, h: f.lineH, alpha: m.ToBytes()}
}

// width of text in pixels.
func (f *face) width(text string) int {
	w := 0
	for _, r := range text {
		w += f.glyph(r).w
	}
	return w
}

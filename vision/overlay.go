package vision

import (
	"fmt"
	"hash/fnv"
	"image"
	"strconv"
	"time"

	"github.com/visiongate/visiongate/media"
)

// yuv is a BT.601 limited-range colour, the encoders' default.
type yuv struct{ y, u, v uint8 }

func rgbToYUV(r, g, b int) yuv {
	return yuv{
		y: uint8((66*r+129*g+25*b+128)>>8 + 16),
		u: uint8((-38*r-74*g+112*b+128)>>8 + 128),
		v: uint8((112*r-94*g-18*b+128)>>8 + 128),
	}
}

var (
	black = rgbToYUV(0, 0, 0)
	white = rgbToYUV(255, 255, 255)
)

// palette holds saturated colours that stay distinct after 4:2:0.
var palette = func() []yuv {
	rgb := [][3]int{
		{0, 230, 64}, {255, 48, 48}, {32, 128, 255}, {255, 200, 0}, {230, 0, 230},
		{0, 220, 220}, {255, 128, 0}, {140, 60, 255}, {160, 255, 0}, {255, 96, 160},
	}
	out := make([]yuv, len(rgb))
	for i, c := range rgb {
		out[i] = rgbToYUV(c[0], c[1], c[2])
	}
	return out
}()

// classColour gives every label its own stable colour.
func classColour(label string) yuv {
	h := fnv.New32a()
	h.Write([]byte(label))
	return palette[h.Sum32()%uint32(len(palette))]
}

// canvas draws into a frame's planes. Coordinates are luma pixels; chroma
// follows at half resolution. Everything is clipped to the even-cropped
// picture, whose rows checkPlanes has verified.
type canvas struct {
	f    *media.Frame
	w, h int
}

func newCanvas(f *media.Frame) (canvas, bool) {
	w, h := f.Width&^1, f.Height&^1
	if w < 2 || h < 2 || checkPlanes(f, w, h) != nil {
		return canvas{}, false
	}
	return canvas{f: f, w: w, h: h}, true
}

func (c canvas) clip(r image.Rectangle) image.Rectangle {
	return r.Intersect(image.Rect(0, 0, c.w, c.h))
}

// fill paints r (luma and the chroma samples it covers) with col.
func (c canvas) fill(r image.Rectangle, col yuv) {
	r = c.clip(r)
	if r.Empty() {
		return
	}
	f := c.f
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := f.Planes[0][y*f.Strides[0]:]
		for x := r.Min.X; x < r.Max.X; x++ {
			row[x] = col.y
		}
	}
	cx0, cy0, cx1, cy1 := r.Min.X/2, r.Min.Y/2, (r.Max.X+1)/2, (r.Max.Y+1)/2
	for y := cy0; y < cy1; y++ {
		if f.Layout == media.LayoutNV12 {
			row := f.Planes[1][y*f.Strides[1]:]
			for x := cx0; x < cx1; x++ {
				row[2*x], row[2*x+1] = col.u, col.v
			}
			continue
		}
		u, v := f.Planes[1][y*f.Strides[1]:], f.Planes[2][y*f.Strides[2]:]
		for x := cx0; x < cx1; x++ {
			u[x], v[x] = col.u, col.v
		}
	}
}

// stroke draws the outline of r, t pixels thick, inside r.
func (c canvas) stroke(r image.Rectangle, t int, col yuv) {
	if r.Dx() <= 2*t || r.Dy() <= 2*t {
		c.fill(r, col)
		return
	}
	c.fill(image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+t), col)
	c.fill(image.Rect(r.Min.X, r.Max.Y-t, r.Max.X, r.Max.Y), col)
	c.fill(image.Rect(r.Min.X, r.Min.Y+t, r.Min.X+t, r.Max.Y-t), col)
	c.fill(image.Rect(r.Max.X-t, r.Min.Y+t, r.Max.X, r.Max.Y-t), col)
}

// text blends text into the Y plane with its top-left at (x, y).
func (c canvas) text(x, y int, text string, fc *face, luma uint8) {
	for _, r := range text {
		g := fc.glyph(r)
		c.blend(x, y, g, luma)
		x += g.w
		if x >= c.w {
			return
		}
	}
}

func (c canvas) blend(x, y int, g *glyph, luma uint8) {
	area := c.clip(image.Rect(x, y, x+g.w, y+g.h))
	fg := int(luma)
	for py := area.Min.Y; py < area.Max.Y; py++ {
		row := c.f.Planes[0][py*c.f.Strides[0]:]
		arow := g.alpha[(py-y)*g.w:]
		for px := area.Min.X; px < area.Max.X; px++ {
			if a := int(arow[px-x]); a != 0 {
				row[px] = uint8((int(row[px])*(255-a) + fg*a + 127) / 255)
			}
		}
	}
}

// label draws text on a filled tag of colour bg, above (x, y) when there
// is room, else below it.
func (c canvas) label(x, y int, text string, fc *face, bg yuv) {
	pad := 2
	w, h := fc.width(text)+2*pad, fc.lineH
	top := y - h
	if top < 0 {
		top = y
	}
	c.fill(image.Rect(x, top, x+w, top+h), bg)
	fg := white.y
	if bg.y > 128 {
		fg = black.y
	}
	c.text(x+pad, top, text, fc, fg)
}

// lineWidth of box outlines: 2 px up to 1280 wide, then 4 (even, so the
// chroma samples of the outline are covered exactly).
func lineWidth(frameW int) int {
	if frameW > 1280 {
		return 4
	}
	return 2
}

// drawBoxes outlines and labels boxes on the frame.
func drawBoxes(c canvas, boxes []media.Box) {
	t := lineWidth(c.w)
	fc := faceFor(c.h)
	for _, b := range boxes {
		// Snap to even coordinates so luma and chroma edges agree.
		r := image.Rect(b.X&^1, b.Y&^1, (b.X+b.W+1)&^1, (b.Y+b.H+1)&^1)
		col := classColour(b.Label)
		c.stroke(r, t, col)
		c.label(r.Min.X, r.Min.Y, boxText(b), fc, col)
	}
}

// boxText is the label, the track id when tracked and, when the detector
// scores, the score.
func boxText(b media.Box) string {
	t := b.Label
	if b.TrackID > 0 {
		t += " #" + strconv.FormatUint(b.TrackID, 10)
	}
	if b.Score <= 0 || b.Score == 1 {
		return t
	}
	return t + " " + strconv.FormatFloat(float64(b.Score), 'f', 2, 32)
}

// fitBoxes rescales boxes found on a w x h frame to a fw x fh frame (the
// stream changed size since the detection).
func fitBoxes(bs []media.Box, w, h, fw, fh int) []media.Box {
	if (w == fw && h == fh) || w <= 0 || h <= 0 {
		return bs
	}
	return scaleBoxes(bs, float64(fw)/float64(w), float64(fh)/float64(h), fw, fh)
}

// drawClock writes the wall clock, video rate and detection rate top-left.
func drawClock(c canvas, now time.Time, fps, dps float64) {
	fc := faceFor(c.h)
	text := fmt.Sprintf("%s  %.1f fps  %.1f det/s", now.Format("2006-01-02 15:04:05.000"), fps, dps)
	c.label(4, 4, text, fc, black)
}

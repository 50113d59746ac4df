package vision

import (
	"image"
	"testing"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/analytics"
)

func yAt(f *media.Frame, x, y int) byte { return f.Planes[0][y*f.Strides[0]+x] }

func uvAt(f *media.Frame, cx, cy int) (byte, byte) {
	if f.Layout == media.LayoutNV12 {
		row := f.Planes[1][cy*f.Strides[1]:]
		return row[2*cx], row[2*cx+1]
	}
	return f.Planes[1][cy*f.Strides[1]+cx], f.Planes[2][cy*f.Strides[2]+cx]
}

func nv12Frame(w, h int) *media.Frame {
	f := &media.Frame{Width: w, Height: h, Layout: media.LayoutNV12}
	f.Strides = [3]int{w + 8, w + 8}
	f.Planes[0] = make([]byte, (w+8)*h)
	f.Planes[1] = make([]byte, (w+8)*h/2)
	for i := range f.Planes[0] {
		f.Planes[0][i] = 16
	}
	for i := range f.Planes[1] {
		f.Planes[1][i] = 128
	}
	return f
}

func TestStrokeTouchesOnlyTheOutline(t *testing.T) {
	for _, f := range []*media.Frame{grayFrame(64, 48, 16, 128, 128), nv12Frame(64, 48)} {
		c, ok := newCanvas(f)
		if !ok {
			t.Fatal("canvas refused a valid frame")
		}
		col := rgbToYUV(255, 0, 0)
		r := image.Rect(8, 10, 40, 30)
		c.stroke(r, 2, col)
		inner := image.Rect(10, 12, 38, 28)
		for y := 0; y < 48; y++ {
			for x := 0; x < 64; x++ {
				p := image.Pt(x, y)
				want := byte(16)
				if p.In(r) && !p.In(inner) {
					want = col.y
				}
				if got := yAt(f, x, y); got != want {
					t.Fatalf("layout %d: Y(%d,%d) = %d, want %d", f.Layout, x, y, got, want)
				}
			}
		}
		for cy := 0; cy < 24; cy++ {
			for cx := 0; cx < 32; cx++ {
				p := image.Pt(2*cx, 2*cy)
				u, v := uvAt(f, cx, cy)
				onLine := p.In(r) && !p.In(inner)
				if onLine != (u == col.u && v == col.v) || (!onLine && (u != 128 || v != 128)) {
					t.Fatalf("layout %d: UV(%d,%d) = %d,%d", f.Layout, cx, cy, u, v)
				}
			}
		}
	}
}

func TestDrawBoxesClipsAndLabels(t *testing.T) {
	f := grayFrame(320, 240, 16, 128, 128)
	c, _ := newCanvas(f)
	drawBoxes(c, []media.Box{
		{X: 100, Y: 100, W: 60, H: 80, Label: "person", Score: 0.87},
		{X: 300, Y: 220, W: 100, H: 100, Label: "car"}, // runs off the frame
		{X: 0, Y: 0, W: 30, H: 30, Label: "face", Score: 1},
	})
	fc := faceFor(240)
	// The tag above the first box has text: not all one value.
	tag := image.Rect(100, 100-fc.lineH, 100+fc.width("person 0.87"), 100)
	seen := map[byte]bool{}
	for y := tag.Min.Y; y < tag.Max.Y; y++ {
		for x := tag.Min.X; x < tag.Max.X; x++ {
			seen[yAt(f, x, y)] = true
		}
	}
	if len(seen) < 3 {
		t.Fatalf("label tag has %d luma values, want text on a fill", len(seen))
	}
	if yAt(f, 130, 140) != 16 || yAt(f, 250, 50) != 16 {
		t.Fatal("drawing leaked inside a box or into empty space")
	}
	if boxText(media.Box{Label: "person", Score: 0.874}) != "person 0.87" || boxText(media.Box{Label: "face", Score: 1}) != "face" {
		t.Fatal("box text")
	}
}

func TestCanvasRefusesBadFrames(t *testing.T) {
	f := grayFrame(64, 48, 16, 128, 128)
	f.Planes[0] = f.Planes[0][:100]
	if _, ok := newCanvas(f); ok {
		t.Fatal("short Y plane accepted")
	}
}

// Lines and zone outlines are drawn with their counts, and only there.
func TestDrawGeometry(t *testing.T) {
	f := grayFrame(320, 240, 80, 128, 128)
	c, ok := newCanvas(f)
	if !ok {
		t.Fatal("canvas refused a valid frame")
	}
	cfg := analytics.Config{
		Lines: []analytics.Line{{Name: "gate", From: [2]float64{20, 200}, To: [2]float64{300, 200}}},
		Zones: []analytics.Zone{{Name: "z", Polygon: [][2]float64{{100, 60}, {200, 60}, {200, 120}}}},
	}
	drawGeometry(c, cfg, &media.Counts{Lines: map[string]media.LineCount{"gate": {In: 3}}})
	at := func(x, y int) byte { return f.Planes[0][y*f.Strides[0]+x] }
	if at(250, 200) != lineColour.y || at(200, 90) != zoneColour.y {
		t.Errorf("line pixel %d (want %d), zone edge pixel %d (want %d)", at(250, 200), lineColour.y, at(200, 90), zoneColour.y)
	}
	if at(250, 150) != 80 || at(10, 10) != 80 {
		t.Error("drew away from the line and the zone")
	}
}

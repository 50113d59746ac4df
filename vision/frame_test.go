package vision

import (
	"image"
	"image/color"
	"testing"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// quadrants is a w x h BGR picture with four coloured quarters.
func quadrants(w, h int) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 40, 40, 0), h, w, gocv.MatTypeCV8UC3)
	gocv.Rectangle(&m, image.Rect(w/2, 0, w, h/2), color.RGBA{R: 220, G: 30, B: 30}, -1)
	gocv.Rectangle(&m, image.Rect(0, h/2, w/2, h), color.RGBA{R: 30, G: 200, B: 30}, -1)
	gocv.Rectangle(&m, image.Rect(w/2, h/2, w, h), color.RGBA{R: 230, G: 230, B: 230}, -1)
	return m
}

func TestSampleConvertsToSmallBGR(t *testing.T) {
	src := quadrants(1280, 720)
	defer src.Close()
	want := resized(src, 640)
	defer want.Close()
	conv := newConverter()
	defer conv.close()
	for _, layout := range []media.PixelLayout{media.LayoutI420, media.LayoutNV12} {
		f := toFrame(t, src, layout, 32)
		smp, err := copyFrame(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := conv.toBGR(smp, 640)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cols() != 640 || got.Rows() != 360 {
			t.Fatalf("layout %d: %dx%d", layout, got.Cols(), got.Rows())
		}
		if d := meanAbsDiff(got, want); d > 4 {
			t.Errorf("layout %d: mean abs diff %.1f against a BGR resize", layout, d)
		}
	}
}

func TestSampleWithoutDownscale(t *testing.T) {
	src := quadrants(320, 240)
	defer src.Close()
	conv := newConverter()
	defer conv.close()
	smp, err := copyFrame(toFrame(t, src, media.LayoutI420, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := conv.toBGR(smp, 640)
	if got.Cols() != 320 || got.Rows() != 240 || meanAbsDiff(got, src) > 4 {
		t.Fatalf("no-scale conversion: %dx%d", got.Cols(), got.Rows())
	}
}

func TestCopyFrameRejectsShortPlanes(t *testing.T) {
	f := grayFrame(64, 48, 16, 128, 128)
	f.Planes[2] = f.Planes[2][:10]
	if _, err := copyFrame(f, nil); err == nil {
		t.Fatal("short plane accepted")
	}
	odd := grayFrame(66, 50, 16, 128, 128)
	odd.Width, odd.Height = 65, 49 // odd sizes crop to even
	if s, err := copyFrame(odd, nil); err != nil || s.w != 64 || s.h != 48 {
		t.Fatalf("odd frame: %+v %v", s, err)
	}
}

func TestDetSize(t *testing.T) {
	for _, c := range []struct{ w, h, width, dw, dh int }{
		{1280, 720, 640, 640, 360}, {768, 576, 640, 640, 480}, {320, 240, 640, 320, 240}, {1920, 1080, 641, 640, 360},
	} {
		if dw, dh := detSize(c.w, c.h, c.width); dw != c.dw || dh != c.dh {
			t.Errorf("detSize(%d,%d,%d) = %d,%d", c.w, c.h, c.width, dw, dh)
		}
	}
}

func meanAbsDiff(a, b gocv.Mat) float64 {
	d := gocv.NewMat()
	defer d.Close()
	gocv.AbsDiff(a, b, &d)
	m := d.Mean()
	return (m.Val1 + m.Val2 + m.Val3) / 3
}

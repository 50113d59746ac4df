package vision

import (
	"image"
	"image/color"
	"testing"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

func newDet(t testing.TB, cfg Config) Detector {
	t.Helper()
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// resized returns m scaled to width w (aspect kept).
func resized(m gocv.Mat, w int) gocv.Mat {
	out := gocv.NewMat()
	h := m.Rows() * w / m.Cols()
	gocv.Resize(m, &out, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	return out
}

func TestPeopleInVtest(t *testing.T) {
	frames := readFrames(t, testdata(t, "vtest.avi"), 0, 60)
	defer closeMats(frames)
	d := newDet(t, Config{Detector: DetectorPeople})
	defer d.Close()
	for _, i := range []int{0, 30, 59} {
		img := resized(frames[i], 640)
		boxes, err := d.Detect(img)
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(boxes) == 0 {
			t.Fatalf("frame %d: no person found", i)
		}
		for _, b := range boxes {
			if b.Label != "person" || b.H <= b.W || b.Score <= 0 {
				t.Errorf("frame %d: odd person box %+v", i, b)
			}
		}
	}
}

func TestFaceInMessi(t *testing.T) {
	img := imread(t, testdata(t, "messi5.jpg"))
	defer img.Close()
	d := newDet(t, Config{Detector: DetectorFaces})
	defer d.Close()
	boxes, err := d.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	// Messi's face in the 548x342 picture is around (245..330, 60..150).
	face := image.Rect(245, 60, 330, 150)
	for _, b := range boxes {
		r := image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H)
		if in := r.Intersect(face); in.Dx()*in.Dy()*2 > face.Dx()*face.Dy() {
			return
		}
	}
	t.Fatalf("face not found: %+v", boxes)
}

func TestFacesMissingCascade(t *testing.T) {
	err := Config{Detector: DetectorFaces, Cascade: "/nonexistent.xml"}.WithDefaults().Validate()
	if ce, ok := err.(*ConfigError); !ok || ce.Field != "cascade" {
		t.Fatalf("err = %v", err)
	}
}

// movingScene draws a textured still background with a bright square at x.
func movingScene(x int) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 100, 110, 0), 240, 320, gocv.MatTypeCV8UC3)
	for i := 0; i < 320; i += 40 {
		gocv.Line(&m, image.Pt(i, 0), image.Pt(i, 239), color.RGBA{60, 60, 60, 0}, 2)
	}
	if x >= 0 {
		gocv.Rectangle(&m, image.Rect(x, 100, x+40, 150), color.RGBA{240, 240, 240, 0}, -1)
	}
	return m
}

// motionRun shows d a still scene for 20 frames (the background), then a
// square moving 12 px per frame; it returns the last boxes and square.
func motionRun(t *testing.T, d Detector, moves int) ([]media.Box, image.Rectangle) {
	t.Helper()
	var boxes []media.Box
	x := -1
	for i := 0; i < 20+moves; i++ {
		if i >= 20 {
			x = 20 + 12*(i-20)
		}
		m := movingScene(x)
		var err error
		boxes, err = d.Detect(m)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return boxes, image.Rect(x, 100, x+40, 150)
}

func covers(boxes []media.Box, want image.Rectangle) bool {
	for _, b := range boxes {
		r := image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H)
		if in := r.Intersect(want); in.Dx()*in.Dy()*10 >= want.Dx()*want.Dy()*9 {
			return true
		}
	}
	return false
}

func TestMotionFindsMovingSquare(t *testing.T) {
	d := newDet(t, Config{Detector: DetectorMotion, MinArea: 400})
	defer d.Close()
	if boxes, sq := motionRun(t, d, 10); !covers(boxes, sq) {
		t.Fatalf("moving square at %v not found: %+v", sq, boxes)
	}
}

func TestMotionStillFrameYieldsNothing(t *testing.T) {
	d := newDet(t, Config{Detector: DetectorMotion, MinArea: 100})
	defer d.Close()
	m := movingScene(100)
	defer m.Close()
	for i := 0; i < 10; i++ {
		boxes, err := d.Detect(m)
		if err != nil || len(boxes) != 0 {
			t.Fatalf("still frame %d: %+v %v", i, boxes, err)
		}
	}
}

func TestMotionMinAreaInSourcePixels(t *testing.T) {
	d := newDet(t, Config{Detector: DetectorMotion, MinArea: 40000}).(*motion)
	defer d.Close()
	if boxes, _ := motionRun(t, d, 5); len(boxes) != 0 {
		t.Fatalf("box smaller than 40000 px kept: %+v", boxes)
	}
	d.setSourceScale(0.25) // the source is 4x wider: 40000 px there = 2500 here
	if boxes, sq := motionRun(t, d, 5); !covers(boxes, sq) {
		t.Fatalf("scaled min area dropped the square: %+v", boxes)
	}
}

func TestNoneAndUnknownDetector(t *testing.T) {
	d := newDet(t, Config{})
	m := movingScene(0)
	defer m.Close()
	if b, err := d.Detect(m); b != nil || err != nil {
		t.Fatal("none detected something")
	}
	d.Close()
	err := Config{Detector: "cars"}.WithDefaults().Validate()
	if ce, ok := err.(*ConfigError); !ok || ce.Field != "detector" {
		t.Fatalf("err = %v", err)
	}
}

func TestNMS(t *testing.T) {
	rs := []rect{
		{X: 0, Y: 0, W: 10, H: 10, Score: 0.5},
		{X: 1, Y: 1, W: 10, H: 10, Score: 0.9},
		{X: 1, Y: 1, W: 10, H: 10, Score: 0.8, Class: 1},
		{X: 50, Y: 50, W: 10, H: 10, Score: 0.1},
	}
	got := nms(rs, 0.45)
	if len(got) != 3 || got[0].Score != 0.9 || got[1].Class != 1 || got[2].X != 50 {
		t.Fatalf("nms: %+v", got)
	}
}

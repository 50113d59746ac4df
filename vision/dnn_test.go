package vision

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// writeModel stores a constant-output ONNX model in a temp dir.
func writeModel(t testing.TB, shape []int64, out []float32) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "const.onnx")
	if err := os.WriteFile(p, constModelONNX(shape, out), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// coco80 writes an 80-class names file (YOLO's class count).
func coco80(t testing.TB) string {
	t.Helper()
	names := []string{"person", "bicycle", "car"}
	for i := 3; i < 80; i++ {
		names = append(names, fmt.Sprintf("c%d", i))
	}
	p := filepath.Join(t.TempDir(), "coco80.txt")
	if err := os.WriteFile(p, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// yoloRow is one YOLOv5 prediction in 64 px input coordinates.
func yoloRow(cx, cy, w, h, obj float32, class int, score float32) []float32 {
	r := make([]float32, 85)
	r[0], r[1], r[2], r[3], r[4] = cx, cy, w, h, obj
	r[5+class] = score
	return r
}

var yoloRows = [][]float32{
	yoloRow(32, 32, 16, 32, 0.9, 0, 0.95), // person
	yoloRow(33, 32, 16, 32, 0.8, 0, 0.95), // same person, worse: NMS drops it
	yoloRow(10, 10, 8, 8, 0.9, 2, 0.9),    // car
	yoloRow(50, 50, 8, 8, 0.1, 1, 0.9),    // low objectness
}

// want in a 128x96 image: x scales by 2, y by 1.5.
var yoloWant = []media.Box{
	{X: 48, Y: 24, W: 32, H: 48, Label: "person", ClassID: 0},
	{X: 12, Y: 9, W: 16, H: 12, Label: "car", ClassID: 2},
}

func runDNN(t *testing.T, cfg Config) []media.Box {
	t.Helper()
	cfg.Detector, cfg.InputSize, cfg.Resize = DetectorDNN, 64, ResizeStretch
	var got [2][]media.Box
	for i, rt := range []string{RuntimeONNX, RuntimeOpenCV} {
		cfg.Runtime = rt
		got[i] = detectOnce(t, cfg.WithDefaults())
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Fatalf("runtimes disagree:\nonnxruntime %+v\nopencv      %+v", got[0], got[1])
	}
	return got[0]
}

// detectOnce builds cfg's detector and runs it on a 128x96 image.
func detectOnce(t *testing.T, cfg Config) []media.Box {
	t.Helper()
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(40, 90, 160, 0), 96, 128, gocv.MatTypeCV8UC3)
	defer img.Close()
	return detectImage(t, cfg, img)
}

// detectImage validates cfg, builds its detector and runs it on img.
func detectImage(t *testing.T, cfg Config, img gocv.Mat) []media.Box {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	boxes, err := d.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	return boxes
}

func checkBoxes(t *testing.T, got, want []media.Box) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d boxes %+v, want %+v", len(got), got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.X != w.X || g.Y != w.Y || g.W != w.W || g.H != w.H || g.Label != w.Label || g.ClassID != w.ClassID {
			t.Errorf("box %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestDNNYOLOv5EndToEnd(t *testing.T) {
	var out []float32
	for _, r := range yoloRows {
		out = append(out, r...)
	}
	model := writeModel(t, []int64{1, int64(len(yoloRows)), 85}, out)
	// gocv's own loader accepts the hand-written model too.
	net := gocv.ReadNetFromONNX(model)
	if net.Empty() {
		t.Fatal("gocv.ReadNetFromONNX: empty net")
	}
	net.Close()
	got := runDNN(t, Config{Model: model, Classes: coco80(t)}) // format auto
	checkBoxes(t, got, yoloWant)
	if s := got[0].Score; s < 0.85 || s > 0.86 {
		t.Errorf("person score %v, want obj*class = 0.855", s)
	}
}

func TestDNNYOLOv8EndToEnd(t *testing.T) {
	// 84 channels (4 box + 80 classes) x 3 predictions, transposed.
	preds := [][]float32{yoloRows[0], yoloRows[1], yoloRows[2]}
	n := len(preds)
	out := make([]float32, 84*n)
	for i, r := range preds {
		for k := 0; k < 4; k++ {
			out[k*n+i] = r[k]
		}
		for c := 0; c < 80; c++ {
			out[(4+c)*n+i] = r[5+c] * r[4] // no objectness in v8
		}
	}
	model := writeModel(t, []int64{1, 84, int64(n)}, out)
	got := runDNN(t, Config{Model: model, Classes: coco80(t), Format: FormatYOLOv8, ClassFilter: []string{"person"}})
	checkBoxes(t, got, yoloWant[:1])
}

func TestDNNSSDEndToEnd(t *testing.T) {
	out := []float32{
		0, 1, 0.9, 0.25, 0.5, 0.5, 1.0, // person (class 1 = line 0)
		0, 3, 0.3, 0, 0, 0.1, 0.1, // car below confidence
		0, 3, 0.7, 0, 0, 0.5, 0.25, // car
	}
	model := writeModel(t, []int64{1, 1, 3, 7}, out)
	classes := testdata(t, "object_detection_classes_coco.txt")
	got := runDNN(t, Config{Model: model, Classes: classes})
	checkBoxes(t, got, []media.Box{
		{X: 32, Y: 48, W: 32, H: 48, Label: "person", ClassID: 0},
		{X: 0, Y: 0, W: 64, H: 24, Label: "car", ClassID: 2},
	})
}

func TestDNNBadModelIsAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(p, []byte("not a model"), 0o644)
	_, err := NewDetector(Config{Detector: DetectorDNN, Model: p}.WithDefaults())
	var de *DetectorError
	if err == nil || !asErr(err, &de) {
		t.Fatalf("err = %v, want a DetectorError", err)
	}
	if err := (Config{Detector: DetectorDNN}).WithDefaults().Validate(); err == nil {
		t.Fatal("dnn without model validated")
	}
}

func TestClassNames(t *testing.T) {
	names, err := LoadClassNames(testdata(t, "object_detection_classes_coco.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 90 || names[0] != "person" || names[2] != "car" || names[9] != "traffic light" {
		t.Fatalf("coco names: %d %q", len(names), names[:10])
	}
	got, _ := ParseClassNames(strings.NewReader(" cat \r\n\ndog\n\n\n"))
	if strings.Join(got, "|") != "cat||dog" {
		t.Fatalf("parsed %q", got)
	}
	if className(got, 1) != "class 1" || className(got, 7) != "class 7" || className(got, 2) != "dog" {
		t.Fatal("className fallback")
	}
}

func TestDetectFormat(t *testing.T) {
	cases := []struct {
		dims []int
		n    int
		want string
	}{
		{[]int{1, 25200, 85}, 0, FormatYOLOv5},
		{[]int{1, 84, 8400}, 0, FormatYOLOv8},
		{[]int{1, 1, 100, 7}, 0, FormatSSD},
		{[]int{1, 4, 85}, 80, FormatYOLOv5},
		{[]int{1, 84, 3}, 80, FormatYOLOv8},
		{[]int{1, 6300, 7}, 2, FormatYOLOv5}, // 2 classes, not SSD
	}
	for _, c := range cases {
		if got, err := detectFormat(FormatAuto, c.dims, c.n); err != nil || got != c.want {
			t.Errorf("%v (%d classes): %q %v, want %q", c.dims, c.n, got, err, c.want)
		}
	}
	if _, err := decode(FormatAuto, []int{2, 3, 4, 5}, make([]float32, 120), geometry{}, 0.5, 0); err == nil {
		t.Error("4-d non-SSD output decoded")
	}
}

// Decoders on synthetic output Mats, as a network would return them.
func TestDecodersOnMats(t *testing.T) {
	g := stretchGeometry(200, 100, 100, 100)
	ssd := floatMat(t, []int{1, 1, 2, 7}, []float32{0, 1, 0.8, 0.1, 0.1, 0.3, 0.5, 0, 2, 0.2, 0, 0, 1, 1})
	defer ssd.Close()
	rs := decodeMat(t, ssd, FormatAuto, g)
	if len(rs) != 1 || rs[0] != (rect{X: 20, Y: 10, W: 40, H: 40, Score: 0.8, Class: 0}) {
		t.Fatalf("ssd: %+v", rs)
	}
	// YOLOv8, normalised coordinates, 2 classes, 2 predictions.
	v8 := floatMat(t, []int{1, 6, 2}, []float32{0.5, 0.2, 0.5, 0.2, 0.2, 0.1, 0.2, 0.1, 0.1, 0.2, 0.9, 0.3})
	defer v8.Close()
	rs = decodeMat(t, v8, FormatYOLOv8, g)
	if len(rs) != 1 || rs[0].Class != 1 || rs[0].X != 80 || rs[0].Y != 40 || rs[0].W != 40 || rs[0].H != 20 {
		t.Fatalf("yolov8: %+v", rs)
	}
}

func floatMat(t *testing.T, dims []int, v []float32) gocv.Mat {
	t.Helper()
	m := gocv.NewMatWithSizes(dims, gocv.MatTypeCV32F)
	p, err := m.DataPtrFloat32()
	if err != nil || len(p) != len(v) {
		t.Fatalf("mat: %v (%d values)", err, len(p))
	}
	copy(p, v)
	return m
}

func decodeMat(t *testing.T, m gocv.Mat, format string, g geometry) []rect {
	t.Helper()
	p, err := m.DataPtrFloat32()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := decode(format, m.Size(), p, g, 0.5, 0)
	if err != nil {
		t.Fatal(err)
	}
	return nms(rs, 0.45)
}

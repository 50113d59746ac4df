package vision

import (
	"errors"
	"image"
	"image/color"
	"slices"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/internal/testmedia"
	"github.com/visiongate/visiongate/media"
)

// The test models (scripts/testmodels.py) fire on a pure red 32x32 cell
// ("person") and a pure blue one ("car") of their 640x640 input, and box
// exactly that cell. On a 640x360 image letterboxed to 640x640 (140 rows
// of padding on top), network cell (row 7, col 4) is image rect
// (128, 84)-(160, 116) and cell (10, 12) is (384, 180)-(416, 212).
var (
	redCell  = image.Rect(128, 84, 160, 116)
	blueCell = image.Rect(384, 180, 416, 212)
	cellWant = []media.Box{
		{X: 128, Y: 84, W: 32, H: 32, Label: "person", ClassID: 0},
		{X: 384, Y: 180, W: 32, H: 32, Label: "car", ClassID: 1},
	}
)

// cellImage is a black 640x360 BGR image with the red and blue cells.
func cellImage(t testing.TB) gocv.Mat {
	t.Helper()
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 360, 640, gocv.MatTypeCV8UC3)
	gocv.Rectangle(&img, redCell, color.RGBA{R: 255}, -1)
	gocv.Rectangle(&img, blueCell, color.RGBA{B: 255}, -1)
	return img
}

func TestONNXRuntimeDecodesKnownModels(t *testing.T) {
	for _, tc := range []struct{ model, format string }{
		{"yolov8_op17.onnx", FormatYOLOv8},
		{"yolov8_op12.onnx", FormatYOLOv8},
		{"yolo_e2e.onnx", FormatEnd2End},
		{"yolov5.onnx", FormatYOLOv5},
	} {
		t.Run(tc.model, func(t *testing.T) {
			for _, format := range []string{FormatAuto, tc.format} {
				cfg := Config{Detector: DetectorDNN, Model: testmedia.TestModel(t, tc.model), Format: format}.WithDefaults()
				got := detectCells(t, cfg)
				sortBoxes(got)
				checkBoxes(t, got, cellWant)
				for _, b := range got {
					if b.Score < 0.999 {
						t.Errorf("%s score %v, want 0.99995", b.Label, b.Score)
					}
				}
			}
		})
	}
}

// detectCells runs cfg's detector on cellImage.
func detectCells(t *testing.T, cfg Config) []media.Box {
	t.Helper()
	img := cellImage(t)
	defer img.Close()
	return detectImage(t, cfg, img)
}

func sortBoxes(bs []media.Box) {
	slices.SortFunc(bs, func(a, b media.Box) int { return a.ClassID - b.ClassID })
}

func TestONNXRuntimeReportsProvider(t *testing.T) {
	cfg := Config{Detector: DetectorDNN, Model: testmedia.TestModel(t, "yolov8_op17.onnx")}.WithDefaults()
	d, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info := d.(describer).Info()
	t.Logf("runtime %+v", info)
	if !strings.HasPrefix(info.Runtime, RuntimeONNX+" 1.") || info.Classes != 2 {
		t.Fatalf("info %+v", info)
	}
	// No GPU here: CUDA, tried first, must fall back to the CPU with a reason.
	if info.Provider == ProviderCPU && !strings.HasPrefix(info.Reason, "cuda: ") {
		t.Fatalf("cpu chosen without saying why cuda was not: %+v", info)
	}
	if info.Provider != ProviderCPU && info.Provider != ProviderCUDA {
		t.Fatalf("provider %q", info.Provider)
	}
}

// OpenCV 4.6 cannot run the YOLOv8 head; the error must say which runtime
// failed, never crash the process.
func TestOpenCVRuntimeRefusesYOLOv8WithClearError(t *testing.T) {
	for _, model := range []string{"yolov8_op17.onnx", "yolov8_op12.onnx"} {
		cfg := Config{Detector: DetectorDNN, Runtime: RuntimeOpenCV, Model: testmedia.TestModel(t, model)}.WithDefaults()
		err := openCVAttempt(t, cfg)
		t.Logf("%s: %v", model, err)
		var re *RuntimeError
		if !errors.As(err, &re) || re.Runtime != RuntimeOpenCV || !strings.Contains(err.Error(), "opencv runtime") ||
			!strings.Contains(err.Error(), "use runtime onnxruntime") {
			t.Fatalf("%s: error %v, want a RuntimeError naming the opencv runtime", model, err)
		}
	}
}

// openCVAttempt loads and runs cfg, returning the first error.
func openCVAttempt(t *testing.T, cfg Config) error {
	t.Helper()
	d, err := NewDetector(cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	img := cellImage(t)
	defer img.Close()
	_, err = d.Detect(img)
	return err
}

func TestNamesMetadata(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"{0: 'person', 1: 'bicycle'}", []string{"person", "bicycle"}},
		{`{0: "a b", 2: 'c'}`, []string{"a b", "", "c"}},
		{"{1: 'it\\'s'}", []string{"", "it\\'s"}},
		{"", nil},
		{"{999999999: 'x'}", nil},
	} {
		got := ParseNamesMetadata(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLetterboxGeometryMatchesUltralytics(t *testing.T) {
	for _, tc := range []struct {
		w, h, in             int
		sx, padX, padY       float32
		unpaddedW, unpaddedH int
	}{
		{640, 360, 640, 1, 0, 140, 640, 360},
		{1280, 720, 640, 0.5, 0, 140, 640, 360},
		{768, 576, 640, 640.0 / 768, 0, 80, 640, 480},
		{360, 640, 640, 1, 140, 0, 360, 640},
		{641, 361, 640, 640.0 / 641, 0, 140, 640, 360},
	} {
		g, size := letterboxGeometry(tc.w, tc.h, tc.in, tc.in)
		if size != image.Pt(tc.unpaddedW, tc.unpaddedH) || g.PadX != tc.padX || g.PadY != tc.padY ||
			abs32(g.SX-tc.sx) > 1e-3 {
			t.Errorf("%dx%d: %+v %v", tc.w, tc.h, g, size)
		}
		// The centre of the input maps back to the centre of the image.
		x, y := g.toImage(float32(tc.in)/2, float32(tc.in)/2)
		if abs32(x-float32(tc.w)/2) > 1 || abs32(y-float32(tc.h)/2) > 1 {
			t.Errorf("%dx%d: centre maps to %v,%v", tc.w, tc.h, x, y)
		}
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

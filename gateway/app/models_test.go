package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/internal/testmedia"
)

// modelsFixture is a models directory with the YOLOv8-structured test
// model, a symlink leading out of it and a FIFO.
func modelsFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(testmedia.TestModel(t, "yolov8_op17.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "yolo11n.onnx"), data, 0o644))
	must(t, os.Symlink("/etc/hostname", filepath.Join(dir, "escape.onnx")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo.onnx"), 0o644))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The bar: a YOLOv8/YOLO11-structured model from the models
// directory runs through ONNX Runtime on a 720p30 camera with zero detector
// errors while a reader still gets the full frame rate.
func TestYOLOModelOn720pCamera(t *testing.T) {
	models := modelsFixture(t)
	cam := testcam.Start(t, testcam.Options{Width: 1280, Height: 720, FPS: 30})
	g := startGateway(t, fmt.Sprintf("models_dir: %s\nsources: []\n", models))
	body := fmt.Sprintf(`{"name":"yolo","url":%q,"vision":{"detector":"dnn","model":"yolo11n.onnx","fps":5}}`, cam.URL)
	if code, b := g.do("POST", "/api/v1/sources", body); code != 201 {
		t.Fatalf("POST = %d %s", code, b)
	}
	g.waitRunning("yolo", 10*time.Second)
	r, err := testcam.Read(g.rtspURL("yolo"), "tcp", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkReading(t, r, 1280, 720, 30, 5*time.Second)
	v := g.waitRunning("yolo", time.Second).Vision
	t.Logf("vision %+v", v)
	if v == nil || v.Errors != 0 || v.Sampled < 10 || v.DetectionsPerSec < 2 ||
		!strings.HasPrefix(v.Runtime, "onnxruntime") || v.Provider != "cpu" {
		t.Errorf("vision status %+v: want onnxruntime on the cpu, detections and no errors", v)
	}
}

// Vision file fields from the API name files inside the models directory;
// everything else is refused with 400 naming the field, and nothing blocks.
func TestModelsDirectoryPolicy(t *testing.T) {
	models := modelsFixture(t)
	g := startGateway(t, fmt.Sprintf("models_dir: %s\nsources: []\n", models))
	for _, tc := range []struct{ field, value string }{
		{"model", "../yolo11n.onnx"},
		{"model", "/etc/hostname"},
		{"model", "escape.onnx"},
		{"model", "fifo.onnx"},
		{"model", "missing.onnx"},
		{"classes", "../../etc/passwd"},
		{"model_config", "/dev/zero"},
		{"cascade", "fifo.onnx"},
	} {
		vision := fmt.Sprintf(`{"detector":"dnn","model":"yolo11n.onnx",%q:%q}`, tc.field, tc.value)
		if tc.field == "cascade" {
			vision = fmt.Sprintf(`{"detector":"faces","cascade":%q}`, tc.value)
		}
		body := fmt.Sprintf(`{"name":"m","url":"rtsp://127.0.0.1:1/x","vision":%s}`, vision)
		start := time.Now()
		code, b := g.do("POST", "/api/v1/sources", body)
		var e struct{ Error, Field string }
		_ = json.Unmarshal(b, &e)
		if code != 400 || !strings.Contains(string(b), "vision."+tc.field) || strings.Contains(string(b), models) {
			t.Errorf("%s=%q: %d %s, want 400 naming vision.%s without the directory", tc.field, tc.value, code, b, tc.field)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("%s=%q took %v", tc.field, tc.value, time.Since(start))
		}
	}
	code, b := g.do("GET", "/api/v1/models", "")
	var list struct {
		Models []struct{ Name, Kind string }
	}
	if code != 200 || json.Unmarshal(b, &list) != nil || len(list.Models) != 1 ||
		list.Models[0].Name != "yolo11n.onnx" || list.Models[0].Kind != "model" {
		t.Errorf("GET /api/v1/models = %d %s, want only yolo11n.onnx (no symlink out, no FIFO)", code, b)
	}
}

package api

import (
	"os/exec"
	"strings"
	"testing"
)

// The HTTP side and the metrics speak only these types: they must never
// link libav, OpenCV or ONNX Runtime again (their tests would slow down and
// need the media libraries).
func TestHTTPSideLinksNoMediaLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "../../web", "../metrics", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, heavy := range []string{"go-astiav", "gocv.io", "onnxruntime_go", "visiongate/transcode", "visiongate/vision"} {
		if strings.Contains(string(out), heavy) {
			t.Errorf("web, metrics or api depends on %s", heavy)
		}
	}
}

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
	heavy := []string{"github.com/asticode/go-astiav", "gocv.io/x/gocv", "github.com/yalue/onnxruntime_go",
		"github.com/visiongate/visiongate/transcode", "github.com/visiongate/visiongate/vision"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, h := range heavy {
			if pkg == h || strings.HasPrefix(pkg, h+"/") {
				t.Errorf("web, metrics or api depends on %s", pkg)
			}
		}
	}
}

package testmedia

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Python is Debian's interpreter, which has python3-onnx (a python3 earlier
// on PATH may not).
const Python = "/usr/bin/python3"

var modelsOnce struct {
	sync.Once
	dir string
	err string
}

// TestModel returns the path of a model built by scripts/testmodels.py
// (YOLOv8 at opsets 17 and 12, an end-to-end export, YOLOv5 and a conv net
// for benchmarks, all with outputs known by construction). The models are
// built once into testdata-cache/models; a build failure fails the test.
func TestModel(t testing.TB, name string) string {
	t.Helper()
	modelsOnce.Do(func() { modelsOnce.dir, modelsOnce.err = buildModels(repoRoot(t)) })
	if modelsOnce.err != "" {
		t.Fatalf("building test models: %s (make setup installs python3-onnx)", modelsOnce.err)
	}
	p := filepath.Join(modelsOnce.dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test model %s: %v", name, err)
	}
	return p
}

// buildModels runs the script into a temporary directory and renames it
// into place, so concurrent test binaries never see half a set.
func buildModels(root string) (string, string) {
	dir := filepath.Join(root, "testdata-cache", "models")
	script := filepath.Join(root, "scripts", "testmodels.py")
	if fresh(dir, script) {
		return dir, ""
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err.Error()
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "models-")
	if err != nil {
		return "", err.Error()
	}
	defer os.RemoveAll(tmp)
	out, err := exec.Command(Python, script, tmp).CombinedOutput()
	if err != nil {
		return "", err.Error() + ": " + string(out)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil && !fresh(dir, script) {
		return "", err.Error()
	}
	return dir, ""
}

// fresh reports whether dir was built after the script last changed.
func fresh(dir, script string) bool {
	d, err1 := os.Stat(filepath.Join(dir, "bench_convnet.onnx"))
	s, err2 := os.Stat(script)
	return err1 == nil && err2 == nil && !d.ModTime().Before(s.ModTime())
}

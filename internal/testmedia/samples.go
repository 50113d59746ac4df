package testmedia

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// OpenCVSample returns the path of one of OpenCV's sample files (vtest.avi,
// messi5.jpg, ...) unpacked by scripts/testdata.sh, under
// $VISIONGATE_TESTDATA or the repository's testdata-cache/opencv. A
// missing file fails the test: the footage is part of the test.
func OpenCVSample(t testing.TB, name string) string {
	t.Helper()
	root := os.Getenv("VISIONGATE_TESTDATA")
	if root == "" {
		root = filepath.Join(repoRoot(t), "testdata-cache", "opencv")
	}
	var found string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	if found == "" {
		t.Fatalf("%s not found under %s: run scripts/testdata.sh (make test does)", name, root)
	}
	return found
}

func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestInsideDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("m.onnx")
	write("sub/n.onnx")
	mustDo(t, os.Symlink("m.onnx", filepath.Join(dir, "in.onnx")))
	mustDo(t, os.Symlink("/etc/hostname", filepath.Join(dir, "out.onnx")))
	mustDo(t, os.Symlink("/", filepath.Join(dir, "up")))
	mustDo(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	mustDo(t, os.Symlink("/dev/zero", filepath.Join(dir, "dev")))
	for _, tc := range []struct {
		name    string
		ok      bool
		outside bool // refused as outside the directory
	}{
		{"m.onnx", true, false},
		{"sub/n.onnx", true, false},
		{"in.onnx", true, false},
		{"out.onnx", false, true},
		{"up/etc/hostname", false, true},
		{"../m.onnx", false, true},
		{"sub/../../m.onnx", false, true},
		{"/etc/hostname", false, true},
		{"", false, true},
		{"fifo", false, false},
		{"dev", false, true},
		{"sub", false, false},
		{"missing.onnx", false, false},
	} {
		p, err := InsideDir(dir, tc.name)
		if (err == nil) != tc.ok || errors.Is(err, ErrOutsideModels) != tc.outside {
			t.Errorf("%q: %q, %v", tc.name, p, err)
		}
		if err != nil && strings.Contains(err.Error(), dir) {
			t.Errorf("%q: error %q reveals the directory", tc.name, err)
		}
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

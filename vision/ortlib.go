package vision

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTLibraryName is the ONNX Runtime shared library visiongate loads. The
// CPU build ships in the npm package onnxruntime-node; setup copies it next
// to the binary.
const ORTLibraryName = "libonnxruntime.so.1"

// ORTLibraryEnv overrides where the library is looked for.
const ORTLibraryEnv = "VISIONGATE_ONNXRUNTIME"

// npmLibrary is where onnxruntime-node keeps the library, below a checkout.
var npmLibrary = filepath.Join("node_modules", "onnxruntime-node", "bin", "napi-v6", "linux", "x64", ORTLibraryName)

// ErrNoORTLibrary means libonnxruntime.so.1 was found nowhere.
var ErrNoORTLibrary = errors.New(ORTLibraryName + " not found (run make setup, put it next to the binary, or set " + ORTLibraryEnv + ")")

var ortEnv struct {
	once    sync.Once
	err     error
	path    string
	version string
}

// initORT loads ONNX Runtime once per process. Its own log stays quiet:
// every failure comes back as an error, which the status shows.
func initORT() error {
	ortEnv.once.Do(func() {
		ortEnv.path = FindORTLibrary()
		if ortEnv.path == "" {
			ortEnv.err = ErrNoORTLibrary
			return
		}
		ort.SetSharedLibraryPath(ortEnv.path)
		if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
			ortEnv.err = fmt.Errorf("loading %s: %w", ortEnv.path, err)
			return
		}
		ortEnv.version = ort.GetVersion()
	})
	return ortEnv.err
}

// ORTVersion is the loaded ONNX Runtime's version, or an error saying why
// it could not be loaded.
func ORTVersion() (string, error) {
	if err := initORT(); err != nil {
		return "", err
	}
	return ortEnv.version, nil
}

// FindORTLibrary returns the first ONNX Runtime library found: the
// environment override, next to the executable (or in its lib/), the
// system's library directories, then node_modules above the working
// directory (a checkout, and its tests).
func FindORTLibrary() string {
	if p := os.Getenv(ORTLibraryEnv); p != "" {
		return regularOrEmpty(p)
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		dirs = append(dirs, d, filepath.Join(d, "lib"), filepath.Join(d, "..", "lib", "visiongate"))
	}
	dirs = append(dirs, "/usr/local/lib/visiongate", "/usr/lib/visiongate", "/usr/local/lib", "/usr/lib")
	for _, d := range dirs {
		if p := regularOrEmpty(filepath.Join(d, ORTLibraryName)); p != "" {
			return p
		}
	}
	wd, err := os.Getwd()
	for err == nil {
		if p := regularOrEmpty(filepath.Join(wd, npmLibrary)); p != "" {
			return p
		}
		parent := filepath.Dir(wd)
		if parent == wd {
			break
		}
		wd = parent
	}
	return ""
}

func regularOrEmpty(p string) string {
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
		return p
	}
	return ""
}

package app

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/web"
)

// modelsDir lists the files sources may name in vision.model, classes,
// cascade and model_config.
type modelsDir struct{ path string }

// maxListed bounds the listing of a directory someone filled by mistake.
const maxListed = 1000

func (m modelsDir) Models() ([]web.Model, error) {
	ents, err := os.ReadDir(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing installed yet
	}
	if err != nil {
		return nil, err
	}
	var out []web.Model
	for _, e := range ents {
		if len(out) == maxListed {
			break
		}
		// List what a source may name: regular files, and symlinks to
		// regular files inside the directory.
		path, err := config.InsideDir(m.path, e.Name())
		if err != nil {
			continue
		}
		info, err := os.Stat(path)
		if err != nil {
			continue
		}
		out = append(out, web.Model{Name: e.Name(), Kind: fileKind(e.Name()), Size: info.Size(),
			Modified: info.ModTime().UTC().Format(time.RFC3339)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// fileKind guesses which vision field a file is for from its extension.
func fileKind(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".onnx", ".caffemodel", ".pb", ".weights", ".tflite":
		return "model"
	case ".txt", ".names":
		return "classes"
	case ".xml":
		return "cascade"
	case ".prototxt", ".pbtxt", ".cfg":
		return "model_config"
	}
	return "file"
}

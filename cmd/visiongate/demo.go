package main

import (
	"os"
	"path/filepath"

	"github.com/visiongate/visiongate/gateway/config"
)

// DemoClipEnv points the demo at OpenCV's pedestrian clip.
const DemoClipEnv = "VISIONGATE_DEMO_CLIP"

// demoClipPaths are where vtest.avi may be: unpacked by scripts/testdata.sh
// in a checkout (beside the working directory or the binary's bin/), from
// an installed opencv-doc, or in the container image.
func demoClipPaths() []string {
	const rel = "testdata-cache/opencv/usr/share/doc/opencv-doc/examples/data/vtest.avi"
	paths := []string{os.Getenv(DemoClipEnv), rel}
	if exe, err := os.Executable(); err == nil {
		paths = append(paths, filepath.Join(filepath.Dir(exe), "..", rel))
	}
	return append(paths, "/usr/share/doc/opencv-doc/examples/data/vtest.avi", "/usr/share/visiongate/vtest.avi")
}

// addPeopleDemo adds the tracked-pedestrians demo to the embedded config
// when OpenCV's vtest.avi is on this machine: people detection with
// tracking, and a counting line down the middle of the 768x576 clip.
func addPeopleDemo(cfg *config.Config) {
	clip := ""
	for _, p := range demoClipPaths() {
		if st, err := os.Stat(p); p != "" && err == nil && st.Mode().IsRegular() {
			clip, _ = filepath.Abs(p)
			break
		}
	}
	if clip == "" {
		return
	}
	cfg.Sources = append(cfg.Sources, config.Source{
		Name: "people",
		URL:  "file://" + clip,
		Vision: &config.Vision{
			Detector: "people", FPS: 5,
			Lines: []config.Line{{Name: "middle", From: [2]float64{384, 0}, To: [2]float64{384, 576}}},
		},
	})
}

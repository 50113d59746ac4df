//go:build matprofile

package vision

import (
	"bytes"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// Every Mat made on the way — frame conversion, each detector, glyphs,
// DNN blobs, worker scratch — must be closed once stages and pool close.
func TestNoLeakedMats(t *testing.T) {
	start := gocv.MatProfile.Count()
	func() {
		frames := readFrames(t, testdata(t, "vtest.avi"), 0, 3)
		defer closeMats(frames)
		model := writeModel(t, []int64{1, 1, 85}, yoloRows[0])
		p := NewPool(2, nil)
		defer p.Close()
		cfgs := []Config{
			{Detector: DetectorPeople}, {Detector: DetectorFaces},
			{Detector: DetectorMotion, MinArea: 10}, {Detector: DetectorDNN, Model: model, InputSize: 64, Format: FormatYOLOv5},
		}
		for i, cfg := range cfgs {
			cfg.Overlay, cfg.FPS = true, 100
			s, err := p.NewStage(cfg.Detector, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ev, cancel := s.Subscribe(4)
			for _, m := range frames {
				f := toFrame(t, m, media.PixelLayout(i%2), 0)
				// Refused only while Process's own sample is in flight;
				// either way one result comes.
				s.TrySubmit(f)
				select {
				case <-ev:
				case <-time.After(30 * time.Second):
					t.Fatalf("%s: no detection result", cfg.Detector)
				}
				s.Process(f)
			}
			cancel()
			if i%2 == 0 {
				s.Close() // the rest close with the pool
			}
		}
	}()
	if n := gocv.MatProfile.Count(); n != start {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats leaked:\n%s", n-start, b.String())
	}
}

package vision

import (
	"fmt"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/internal/testmedia"
	"github.com/visiongate/visiongate/media"
)

// BenchmarkDetect: one detection on a 640 px wide image per op (what a
// worker spends per sampled frame, conversion excluded).
func BenchmarkDetect(b *testing.B) {
	frames := readFrames(b, testdata(b, "vtest.avi"), 0, 2)
	defer closeMats(frames)
	street0, street1 := resized(frames[0], 640), resized(frames[1], 640)
	defer street0.Close()
	defer street1.Close()
	messi := imread(b, testdata(b, "messi5.jpg"))
	defer messi.Close()
	face := resized(messi, 640)
	defer face.Close()
	model := writeModel(b, []int64{1, 1, 85}, yoloRows[0])
	cases := []struct {
		name string
		cfg  Config
		imgs []gocv.Mat
	}{
		{"people", Config{Detector: DetectorPeople}, []gocv.Mat{street0}},
		{"faces", Config{Detector: DetectorFaces}, []gocv.Mat{face}},
		{"motion", Config{Detector: DetectorMotion}, []gocv.Mat{street0, street1}},
		// A trivial network: this is the cost of blob, I/O and decoding
		// at 640x640 input, not of a real model.
		{"dnn-const-640", Config{Detector: DetectorDNN, Model: model, Format: FormatYOLOv5}, []gocv.Mat{street0}},
	}
	for _, threads := range []int{0, 1} {
		SetOpenCVThreads(threads)
		for _, c := range cases {
			benchDetect(b, fmt.Sprintf("%s/opencv-threads=%d", c.name, threads), c.cfg, c.imgs)
		}
	}
	SetOpenCVThreads(0)
}

func benchDetect(b *testing.B, name string, cfg Config, imgs []gocv.Mat) {
	b.Run(name, func(b *testing.B) {
		d := newDet(b, cfg)
		defer d.Close()
		for i := 0; b.Loop(); i++ {
			if _, err := d.Detect(imgs[i%len(imgs)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/detection")
	})
}

// BenchmarkSample: the video path's copy of a sampled 1280x720 frame, and
// the worker's downscale + BGR conversion of it.
func BenchmarkSample(b *testing.B) {
	src := quadrants(1280, 720)
	defer src.Close()
	f := toFrame(b, src, media.LayoutI420, 0)
	b.Run("copy-1280x720", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			s, _ := copyFrame(f, buf)
			buf = s.buf
		}
	})
	b.Run("to-bgr-640", func(b *testing.B) {
		s, _ := copyFrame(f, nil)
		c := newConverter()
		defer c.close()
		for b.Loop() {
			c.toBGR(s, 640)
		}
	})
}

// BenchmarkProcess: Stage.Process per 1280x720 frame, with nothing to
// draw, with 4 labelled boxes, and with boxes plus the clock overlay.
func BenchmarkProcess(b *testing.B) {
	boxes := []media.Box{
		{X: 100, Y: 100, W: 120, H: 300, Label: "person", Score: 0.91},
		{X: 400, Y: 120, W: 110, H: 280, Label: "person", Score: 0.64},
		{X: 700, Y: 300, W: 300, H: 200, Label: "car", Score: 0.77},
		{X: 1000, Y: 50, W: 80, H: 80, Label: "face", Score: 1},
	}
	for _, c := range []struct {
		name    string
		boxes   []media.Box
		overlay bool
	}{{"idle", nil, false}, {"4-boxes", boxes, false}, {"4-boxes+clock", boxes, true}} {
		b.Run(c.name, func(b *testing.B) {
			p := NewPool(1, nil)
			defer p.Close()
			s, _ := p.NewStage("bench", Config{Hold: time.Hour, Overlay: c.overlay})
			defer s.Close()
			s.shown = shown{boxes: c.boxes, w: 1280, h: 720, at: time.Now()}
			f := grayFrame(1280, 720, 90, 128, 128)
			for b.Loop() {
				s.Process(f)
			}
		})
	}
}

// BenchmarkRuntimes: the same model (scripts/testmodels.py's conv net,
// about 2 GFLOPs at 640x640, opset 12) through ONNX Runtime and OpenCV DNN,
// at 1 and 2 threads. Each op is one detection: letterbox, input tensor,
// inference, decoding.
func BenchmarkRuntimes(b *testing.B) {
	frames := readFrames(b, testdata(b, "vtest.avi"), 0, 1)
	defer closeMats(frames)
	street := resized(frames[0], 640)
	defer street.Close()
	model := testmedia.TestModel(b, "bench_convnet.onnx")
	for _, threads := range []int{1, 2} {
		SetOpenCVThreads(threads)
		for _, rt := range []string{RuntimeONNX, RuntimeOpenCV} {
			cfg := Config{Detector: DetectorDNN, Model: model, Runtime: rt, Threads: threads, Providers: []string{ProviderCPU}}
			benchDetect(b, fmt.Sprintf("%s/threads=%d", rt, threads), cfg, []gocv.Mat{street})
		}
	}
	SetOpenCVThreads(0)
}

// BenchmarkPoolPerCamera: N cameras at 30 fps (1280x720 frames) asking for
// 5 detections a second each from the shared pool (NumCPU-1 workers) with
// the benchmark conv net (about 2 GFLOPs, a quarter of YOLOv8n) on ONNX
// Runtime. One op is a 5 s window; it reports detections per second per
// camera and the video rate Process kept (it never waits for a detector).
func BenchmarkPoolPerCamera(b *testing.B) {
	frames := readFrames(b, testdata(b, "vtest.avi"), 0, 1)
	defer closeMats(frames)
	hd := resized(frames[0], 1280)
	defer hd.Close()
	model := testmedia.TestModel(b, "bench_convnet.onnx")
	for _, cams := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("cameras=%d", cams), func(b *testing.B) {
			for b.Loop() {
				dps, fps := poolWindow(b, hd, model, cams, 5*time.Second)
				b.ReportMetric(dps, "detections/s/camera")
				b.ReportMetric(fps, "fps/camera")
			}
		})
	}
}

func poolWindow(b *testing.B, img gocv.Mat, model string, cams int, window time.Duration) (dps, fps float64) {
	p := NewPool(0, nil)
	defer p.Close()
	cfg := Config{Detector: DetectorDNN, Model: model, FPS: 5, Providers: []string{ProviderCPU}}
	var stages []*Stage
	for i := range cams {
		s, err := p.NewStage(fmt.Sprintf("cam%d", i), cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stages = append(stages, s)
	}
	done := make(chan int, cams)
	for _, s := range stages {
		f := toFrame(b, img, media.LayoutI420, 0)
		go func() { done <- pumpAt30(s, f, window) }()
	}
	frames := 0
	for range cams {
		frames += <-done
	}
	var dets uint64
	for _, s := range stages {
		dets += s.Stats().Detections
	}
	secs := window.Seconds() * float64(cams)
	return float64(dets) / secs, float64(frames) / secs
}

// pumpAt30 calls Process 30 times a second for d, as a camera delivers.
func pumpAt30(s *Stage, f *media.Frame, d time.Duration) int {
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		s.Process(f)
		n++
	}
	return n
}

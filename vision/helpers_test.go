package vision

import (
	"bytes"
	"errors"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/visiongate/visiongate/media"
)

// testdataDir holds the opencv-doc package tree (scripts/testdata.sh).
func testdataDir() string {
	if d := os.Getenv("VISIONGATE_TESTDATA"); d != "" {
		return d
	}
	return filepath.Join("..", "testdata-cache", "opencv")
}

var (
	dataOnce  sync.Once
	dataFiles map[string]string
)

// testdata returns the path of a sample file from OpenCV's opencv-doc
// package, failing the test (not skipping) when it is missing.
func testdata(t testing.TB, name string) string {
	t.Helper()
	dir := testdataDir()
	for _, sub := range []string{"usr/share/doc/opencv-doc/examples/data", "usr/share/doc/opencv-doc/examples/data/dnn", "."} {
		p := filepath.Join(dir, sub, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	dataOnce.Do(func() {
		dataFiles = map[string]string{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if _, ok := dataFiles[d.Name()]; !ok {
					dataFiles[d.Name()] = p
				}
			}
			return nil
		})
	})
	if p, ok := dataFiles[name]; ok {
		return p
	}
	t.Fatalf("test data %s not found under %s: run scripts/testdata.sh (or set VISIONGATE_TESTDATA to the unpacked opencv-doc tree)", name, dir)
	return ""
}

// readFrames reads n frames of a video file, starting at frame skip.
func readFrames(t testing.TB, path string, skip, n int) []gocv.Mat {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer vc.Close()
	var out []gocv.Mat
	for i := 0; len(out) < n; i++ {
		m := gocv.NewMat()
		if !vc.Read(&m) || m.Empty() {
			m.Close()
			break
		}
		if i < skip {
			m.Close()
			continue
		}
		out = append(out, m)
	}
	if len(out) < n {
		closeMats(out)
		t.Fatalf("%s: read %d of %d frames", path, len(out), n)
	}
	return out
}

func closeMats(ms []gocv.Mat) {
	for i := range ms {
		ms[i].Close()
	}
}

func imread(t testing.TB, path string) gocv.Mat {
	t.Helper()
	m := gocv.IMRead(path, gocv.IMReadColor)
	if m.Empty() {
		m.Close()
		t.Fatalf("cannot read %s", path)
	}
	return m
}

// toFrame converts an even-sized BGR image into a frame of the given
// layout, as a decoder would hand it over (with padded strides).
func toFrame(t testing.TB, bgr gocv.Mat, layout media.PixelLayout, pad int) *media.Frame {
	t.Helper()
	w, h := bgr.Cols()&^1, bgr.Rows()&^1
	src := bgr.Region(imageRect(w, h))
	defer src.Close()
	yuv := gocv.NewMat()
	defer yuv.Close()
	gocv.CvtColor(src, &yuv, gocv.ColorBGRToYUVI420)
	b := yuv.ToBytes()
	y, u, v := b[:w*h], b[w*h:w*h*5/4], b[w*h*5/4:]
	f := &media.Frame{Width: w, Height: h, Layout: layout}
	f.Strides[0] = w + pad
	f.Planes[0] = strided(y, w, h, pad)
	if layout == media.LayoutNV12 {
		uv := make([]byte, w*h/2)
		for i := range u {
			uv[2*i], uv[2*i+1] = u[i], v[i]
		}
		f.Strides[1] = w + pad
		f.Planes[1] = strided(uv, w, h/2, pad)
		return f
	}
	f.Strides[1], f.Strides[2] = w/2+pad, w/2+pad
	f.Planes[1] = strided(u, w/2, h/2, pad)
	f.Planes[2] = strided(v, w/2, h/2, pad)
	return f
}

func strided(p []byte, w, h, pad int) []byte {
	out := make([]byte, (w+pad)*h)
	for y := 0; y < h; y++ {
		copy(out[y*(w+pad):], p[y*w:(y+1)*w])
	}
	return out
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }

func imageRect(w, h int) image.Rectangle { return image.Rect(0, 0, w, h) }

// grayFrame is a w x h I420 frame of one colour.
func grayFrame(w, h int, y, u, v byte) *media.Frame {
	f := &media.Frame{Width: w, Height: h, Layout: media.LayoutI420}
	f.Strides = [3]int{w, w / 2, w / 2}
	f.Planes[0] = bytes.Repeat([]byte{y}, w*h)
	f.Planes[1] = bytes.Repeat([]byte{u}, w*h/4)
	f.Planes[2] = bytes.Repeat([]byte{v}, w*h/4)
	return f
}

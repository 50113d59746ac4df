package transcode

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"
)

// planeStats is the mean and standard deviation of a w×h plane (stride s).
func planeStats(p []byte, s, w, h int) (mean, std float64) {
	var sum, sq float64
	for y := range h {
		for _, v := range p[y*s : y*s+w] {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
	}
	n := float64(w * h)
	mean = sum / n
	return mean, math.Sqrt(max(0, sq/n-mean*mean))
}

// encodeAndDecode encodes src with a fresh w×h encoder at qscale 5 and
// decodes the result, which must have the encoder's size.
func encodeAndDecode(t *testing.T, src *astiav.Frame, w, h int) (jpegBytes []byte, ycc fullPlanes) {
	t.Helper()
	enc, err := NewJPEGEncoder(w, h, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	data, err := enc.Encode(src)
	if err != nil {
		t.Fatalf("Encode %dx%d %s → %dx%d: %v", src.Width(), src.Height(), src.PixelFormat(), w, h, err)
	}
	img := decodeJPEG(t, data)
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("decoded %v, want %dx%d", b, w, h)
	}
	cw, ch := (w+1)/2, (h+1)/2
	return data, fullPlanes{y: repack(img.Y, img.YStride, w, h), cb: repack(img.Cb, img.CStride, cw, ch),
		cr: repack(img.Cr, img.CStride, cw, ch), w: w, h: h}
}

func repack(p []byte, s, w, h int) []byte {
	out := make([]byte, 0, w*h)
	for y := range h {
		out = append(out, p[y*s:y*s+w]...)
	}
	return out
}

// checkLooksLike wants got's luma level and contrast and its colour,
// overall and per 16×16 tile, close to want's.
func checkLooksLike(t *testing.T, got, want fullPlanes, lumaTol, tileTol float64) {
	t.Helper()
	gm, gs := planeStats(got.y, got.w, got.w, got.h)
	wm, ws := planeStats(want.y, want.w, want.w, want.h)
	if math.Abs(gm-wm) > lumaTol || math.Abs(gs-ws) > 0.03*ws+lumaTol {
		t.Errorf("luma mean %.2f std %.2f, source %.2f std %.2f", gm, gs, wm, ws)
	}
	cw, ch := (got.w+1)/2, (got.h+1)/2
	for _, c := range []struct {
		name      string
		got, want []byte
	}{{"Cb", got.cb, want.cb}, {"Cr", got.cr, want.cr}} {
		gm, _ := planeStats(c.got, cw, cw, ch)
		wm, _ := planeStats(c.want, cw, cw, ch)
		if math.Abs(gm-wm) > lumaTol {
			t.Errorf("%s mean %.2f, source %.2f", c.name, gm, wm)
		}
		if d := worstTile(c.got, c.want, cw, ch, 8); d > tileTol {
			t.Errorf("%s: a 16×16 tile's mean is %.1f off the source's", c.name, d)
		}
	}
}

// worstTile is the largest difference of n×n tile means between two
// packed w×h planes.
func worstTile(a, b []byte, w, h, n int) float64 {
	worst := 0.0
	for ty := 0; ty < h; ty += n {
		for tx := 0; tx < w; tx += n {
			var d float64
			var k int
			for y := ty; y < min(ty+n, h); y++ {
				for x := tx; x < min(tx+n, w); x++ {
					d += float64(a[y*w+x]) - float64(b[y*w+x])
					k++
				}
			}
			worst = max(worst, math.Abs(d/float64(k)))
		}
	}
	return worst
}

func TestJPEGLooksLikeTheSource(t *testing.T) {
	src := decodedFrame(t, 1280, 720)
	if src.PixelFormat() != astiav.PixelFormatYuv420P || fullRange(src) {
		t.Fatalf("source is %s range %d, want TV-range yuv420p", src.PixelFormat(), src.ColorRange())
	}
	ref := referencePlanes(t, src)
	data, got := encodeAndDecode(t, src, 1280, 720)
	// TV range must be stretched: unstretched luma has 219/255 of the contrast.
	checkLooksLike(t, got, ref, 1, 6)

	old, err := newAVJPEGEncoder(1280, 720, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldData, err := old.Encode(src)
	if err != nil {
		t.Fatal(err)
	}
	newY, newC := jpegPSNR(t, data, ref)
	oldY, oldC := jpegPSNR(t, oldData, ref)
	t.Logf("qscale 5: new %d bytes, Y %.2f dB, C %.2f dB; old %d bytes, Y %.2f dB, C %.2f dB",
		len(data), newY, newC, len(oldData), oldY, oldC)
	// Luma matches within a dB. libjpeg's chroma table is coarser than
	// libav's (which reuses the luma matrix): 0.3–1.8 dB less chroma PSNR
	// on photos and noise, 3.6 dB on this saturated test pattern.
	if newY < oldY-1 || newC < oldC-4.5 {
		t.Errorf("new encoder is visibly worse than libav's at the same setting")
	}
}

func TestJPEGFullRangeInputIsNotStretched(t *testing.T) {
	src := decodedFrame(t, 320, 240)
	conv := NewConverter(320, 240, astiav.PixelFormatYuvj420P)
	defer conv.Close()
	full, err := conv.Convert(src)
	if err != nil {
		t.Fatal(err)
	}
	want := packedPlanes(t, full)
	_, got := encodeAndDecode(t, full, 320, 240)
	checkLooksLike(t, got, want, 1, 6)

	// The same samples labelled yuv420p with a JPEG (full) range.
	labelled := full.Clone()
	defer labelled.Free()
	labelled.SetPixelFormat(astiav.PixelFormatYuv420P)
	labelled.SetColorRange(astiav.ColorRangeJpeg)
	_, got = encodeAndDecode(t, labelled, 320, 240)
	checkLooksLike(t, got, want, 1, 6)
}

func TestJPEGOddAndTinySizes(t *testing.T) {
	src := decodedFrame(t, 642, 362)
	_, got := encodeAndDecode(t, src, 642, 362)
	checkLooksLike(t, got, referencePlanes(t, src), 1, 6)

	for _, sz := range [][2]int{{641, 361}, {33, 17}, {2, 2}, {1, 1}} {
		w, h := sz[0], sz[1]
		// A TV-range yuv420p frame of that size, rows padded, encoded
		// without swscale.
		conv := NewConverter(w, h, astiav.PixelFormatYuv420P)
		f, err := conv.Convert(src)
		if err != nil {
			t.Fatal(err)
		}
		if f.Linesize()[0] <= w {
			t.Fatalf("%dx%d frame has unpadded rows; the test wants padding", w, h)
		}
		_, got := encodeAndDecode(t, f, w, h)
		checkLooksLike(t, got, referencePlanes(t, f), 1.5, 8)
		// And the 642×362 source scaled down by the encoder. Loose: under
		// 8 wide swscale skips its range stretch (1×1: 126, not 128).
		_, got = encodeAndDecode(t, src, w, h)
		checkLooksLike(t, got, referencePlanes(t, f), 3, 12)
		conv.Close()
	}
}

// TurboJPEG reads 4:2:0 luma rounded up to even sizes; the encoder must
// pad odd pictures itself, never letting it read the row or column past
// the picture. A black odd picture with bright pixels just past its edge
// must come out all black.
func TestJPEGOddSizeReadsOnlyThePicture(t *testing.T) {
	src := decodedFrame(t, 320, 240)
	conv := NewConverter(34, 18, astiav.PixelFormatYuv420P)
	defer conv.Close()
	big, err := conv.Convert(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, pf := range []astiav.PixelFormat{astiav.PixelFormatYuv420P, astiav.PixelFormatYuvj420P} {
		view := big.Clone() // same buffers, one column and row fewer
		view.SetWidth(33)
		view.SetHeight(17)
		view.SetPixelFormat(pf)
		if err := view.ImageFillBlack(); err != nil {
			t.Fatal(err)
		}
		_, got := encodeAndDecode(t, view, 33, 17)
		for i, v := range got.y {
			// Black is 16 in yuvj420p here: the fill follows the
			// unspecified colour range, not the format.
			if v > 1 && pf == astiav.PixelFormatYuv420P || v > 17 || v < 15 && pf == astiav.PixelFormatYuvj420P {
				t.Fatalf("%s: luma %d at (%d,%d) of a black picture", pf, v, i%33, i/33)
			}
		}
		view.Free()
	}
}

func TestJPEGScalesAndConvertsOtherFormats(t *testing.T) {
	src := decodedFrame(t, 1280, 720)
	for _, pf := range []astiav.PixelFormat{astiav.PixelFormatNv12, astiav.PixelFormatRgb24} {
		conv := NewConverter(1280, 720, pf)
		f, err := conv.Convert(src)
		if err != nil {
			t.Fatal(err)
		}
		_, got := encodeAndDecode(t, f, 1280, 720)
		checkLooksLike(t, got, referencePlanes(t, src), 2, 8)
		conv.Close()
	}
	small := NewConverter(640, 360, astiav.PixelFormatYuv420P)
	defer small.Close()
	f, err := small.Convert(src)
	if err != nil {
		t.Fatal(err)
	}
	_, got := encodeAndDecode(t, src, 640, 360)
	checkLooksLike(t, got, referencePlanes(t, f), 1, 6)
}

func TestJPEGBadInputIsAnError(t *testing.T) {
	for _, sz := range [][2]int{{0, 720}, {1280, 0}, {-2, 2}, {1 << 20, 1 << 20}} {
		if e, err := NewJPEGEncoder(sz[0], sz[1], 5); err == nil {
			e.Close()
			t.Errorf("NewJPEGEncoder(%d, %d) gave no error", sz[0], sz[1])
		}
	}
	enc, err := NewJPEGEncoder(64, 48, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	bad := map[string]*astiav.Frame{
		"yuv420p without buffers": blankFrame(64, 48, astiav.PixelFormatYuv420P),
		"nv12 without buffers":    blankFrame(64, 48, astiav.PixelFormatNv12),
		"no pixel format":         blankFrame(64, 48, astiav.PixelFormatNone),
		"hardware format":         blankFrame(64, 48, astiav.PixelFormatCuda),
		"empty":                   blankFrame(0, 0, astiav.PixelFormatYuv420P),
	}
	for name, f := range bad {
		if _, err := enc.Encode(f); err == nil {
			t.Errorf("%s: no error", name)
		}
		f.Free()
	}
	// The encoder still works afterwards.
	good := decodedFrame(t, 64, 48)
	if _, err := enc.Encode(good); err != nil {
		t.Errorf("after bad frames: %v", err)
	}
	enc.Close()
	if _, err := enc.Encode(good); err == nil {
		t.Error("Encode after Close gave no error")
	}
	enc.Close() // closing twice is harmless
}

func blankFrame(w, h int, pf astiav.PixelFormat) *astiav.Frame {
	f := astiav.AllocFrame()
	f.SetWidth(w)
	f.SetHeight(h)
	f.SetPixelFormat(pf)
	return f
}

func TestJPEGQualityMatchesQscale(t *testing.T) {
	want := map[int]int{2: 92, 5: 80, 6: 76, 10: 60, 20: 31, 31: 20}
	for q, w := range want {
		if got := turboQuality(q); got != w {
			t.Errorf("turboQuality(%d) = %d, want %d", q, got, w)
		}
	}
	for q := 0; q <= 40; q++ {
		if v := turboQuality(q); v < 1 || v > 100 || (q > 1 && v > turboQuality(q-1)) {
			t.Errorf("turboQuality(%d) = %d: out of 1…100 or not decreasing", q, v)
		}
	}
}

func TestJPEGDoesNotLeak(t *testing.T) {
	src := decodedFrame(t, 1280, 720)
	scaled := decodedFrame(t, 320, 240) // through the scaler
	run := func(n int) {
		enc, err := NewJPEGEncoder(1280, 720, 5)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		for i := range n {
			f := src
			if i%10 == 0 {
				f = scaled
			}
			if _, err := enc.Encode(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(50) // warm up: libraries' one-off allocations
	heap0, rss0 := memUse(t)
	for range 10 {
		run(100)
	}
	heap1, rss1 := memUse(t)
	t.Logf("1000 encodes, 10 encoders: Go heap %+d KiB, VmRSS %+d KiB", (heap1-heap0)>>10, (rss1-rss0)>>10)
	// A JPEG is ~50 KiB and the output buffer 2.7 MiB (mostly untouched),
	// so leaking either per encode would add 50 MiB or more.
	if heap1-heap0 > 8<<20 || rss1-rss0 > 16<<20 {
		t.Errorf("memory grew: heap %d KiB, RSS %d KiB", (heap1-heap0)>>10, (rss1-rss0)>>10)
	}
}

// memUse is the live Go heap and the process's resident size, in bytes.
func memUse(t *testing.T) (heap, rss int64) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		}
	}
	return int64(ms.HeapAlloc), rss
}

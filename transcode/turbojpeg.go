package transcode

/*
#cgo pkg-config: libavutil libturbojpeg
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <turbojpeg.h>
#include <libavutil/frame.h>

// vg_planes_ok tells whether f has three 4:2:0 planes whose rows are at
// least as wide as the picture, so TurboJPEG never reads out of a row.
static int vg_planes_ok(const AVFrame *f) {
	int cw = (f->width + 1) / 2;
	for (int i = 0; i < 3; i++) {
		if (!f->data[i] || f->linesize[i] < (i ? cw : f->width)) {
			return 0;
		}
	}
	return 1;
}

// The stretch from limited (TV) range to JPEG's full range: luma 16…235
// and chroma 16…240 (centred on 128) to 0…255. Clamping first and the
// factors 149/128 ≈ 255/219 and 291/256 ≈ 255/224 keep every product in
// 16 bits, so GCC vectorises with 16-bit lanes (O3); with 32-bit lanes
// this pass cost half as much as the encode.
typedef void (*vg_row_fn)(uint8_t *restrict d, const uint8_t *restrict s, int w);

__attribute__((optimize("O3")))
static void vg_stretch_luma(uint8_t *restrict d, const uint8_t *restrict s, int w) {
	for (int x = 0; x < w; x++) {
		int c = s[x] < 16 ? 16 : s[x] > 235 ? 235 : s[x];
		d[x] = (uint8_t)(((c - 16) * 149 + 64) >> 7);
	}
}

__attribute__((optimize("O3")))
static void vg_stretch_chroma(uint8_t *restrict d, const uint8_t *restrict s, int w) {
	for (int x = 0; x < w; x++) {
		int c = s[x] < 16 ? 16 : s[x] > 240 ? 240 : s[x];
		d[x] = (uint8_t)((((c - 128) * 291 + 128) >> 8) + 128);
	}
}

static void vg_copy_row(uint8_t *restrict d, const uint8_t *restrict s, int w) { memcpy(d, s, w); }

// vg_fill copies a w×h plane through fn into dst, packed pw×ph (pw ≥ w,
// ph ≥ h by at most one), repeating the last column and row.
static void vg_fill(uint8_t *dst, int pw, int ph, const uint8_t *src, int stride, int w, int h, vg_row_fn fn) {
	for (int y = 0; y < h; y++) {
		uint8_t *d = dst + (size_t)y * pw;
		fn(d, src + (ptrdiff_t)y * stride, w);
		if (pw > w) {
			d[w] = d[w - 1];
		}
	}
	if (ph > h) {
		memcpy(dst + (size_t)h * pw, dst + (size_t)(h - 1) * pw, pw);
	}
}

// vg_tj_encode compresses f into out, whose cap bytes come from tjBufSize
// so that it is never reallocated, and returns the JPEG's length or -1
// (see tjGetErrorStr2). TurboJPEG reads 4:2:0 luma as PAD(w,2)×PAD(h,2),
// one column and row past an odd picture, so odd sizes, like TV range,
// go through scratch: PAD(w,2)×PAD(h,2) luma then two chroma planes.
static long vg_tj_encode(tjhandle tj, const AVFrame *f, int limited, uint8_t *scratch,
		unsigned char *out, unsigned long cap, int quality) {
	int w = f->width, h = f->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
	const unsigned char *planes[3] = {f->data[0], f->data[1], f->data[2]};
	int strides[3] = {f->linesize[0], f->linesize[1], f->linesize[2]};
	if (limited || (w | h) & 1) {
		size_t ny = (size_t)cw * 2 * ch * 2, nc = (size_t)cw * ch;
		uint8_t *p[3] = {scratch, scratch + ny, scratch + ny + nc};
		vg_fill(p[0], cw * 2, ch * 2, f->data[0], f->linesize[0], w, h, limited ? vg_stretch_luma : vg_copy_row);
		for (int i = 1; i < 3; i++) {
			vg_fill(p[i], cw, ch, f->data[i], f->linesize[i], cw, ch, limited ? vg_stretch_chroma : vg_copy_row);
		}
		for (int i = 0; i < 3; i++) {
			planes[i] = p[i];
			strides[i] = i ? cw : cw * 2;
		}
	}
	unsigned long size = cap;
	if (tjCompressFromYUVPlanes(tj, planes, w, strides, h, TJSAMP_420, &out, &size, quality,
			TJFLAG_FASTDCT | TJFLAG_NOREALLOC) != 0) {
		return -1;
	}
	return (long)size;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// turboJPEG owns one TurboJPEG compressor and its output buffer, both
// in C memory and freed only by close.
type turboJPEG struct {
	tj      C.tjhandle
	out     *C.uchar
	cap     C.ulong
	scratch []byte // stretched or padded planes; Go memory, only lent to C
	w, h    int
}

func newTurboJPEG(w, h int) (*turboJPEG, error) {
	if w <= 0 || h <= 0 || checkSize(w, h) != nil {
		return nil, fmt.Errorf("jpeg: bad picture size %dx%d", w, h)
	}
	size := C.tjBufSize(C.int(w), C.int(h), C.TJSAMP_420)
	if size == ^C.ulong(0) || size > math.MaxInt32 {
		return nil, fmt.Errorf("jpeg: no buffer size for %dx%d", w, h)
	}
	t := &turboJPEG{tj: C.tjInitCompress(), cap: size, w: w, h: h}
	if t.tj == nil {
		return nil, errors.New("jpeg: tjInitCompress failed")
	}
	if t.out = C.tjAlloc(C.int(size)); t.out == nil {
		t.close()
		return nil, errors.New("jpeg: out of memory")
	}
	cw, ch := (w+1)/2, (h+1)/2
	t.scratch = make([]byte, 6*cw*ch) // luma 2cw×2ch, chroma 2 × cw×ch
	return t, nil
}

// compress returns f, a w×h yuv420p or yuvj420p frame, as a JPEG at
// quality (1…100). limited says f is TV range and must be stretched.
func (t *turboJPEG) compress(f *astiav.Frame, limited bool, quality int) ([]byte, error) {
	cf := (*C.AVFrame)(f.UnsafePointer())
	if f.Width() != t.w || f.Height() != t.h || C.vg_planes_ok(cf) == 0 {
		return nil, fmt.Errorf("jpeg: frame %dx%d %s has no usable 4:2:0 planes", f.Width(), f.Height(), f.PixelFormat())
	}
	lim := C.int(0)
	if limited {
		lim = 1
	}
	n := C.vg_tj_encode(t.tj, cf, lim, (*C.uint8_t)(unsafe.Pointer(&t.scratch[0])), t.out, t.cap, C.int(quality))
	if n < 0 {
		return nil, fmt.Errorf("jpeg: %s", C.GoString(C.tjGetErrorStr2(t.tj)))
	}
	return C.GoBytes(unsafe.Pointer(t.out), C.int(n)), nil
}

// closed tells whether close has run.
func (t *turboJPEG) closed() bool { return t.tj == nil }

// close frees the compressor and its buffer; safe to call twice.
func (t *turboJPEG) close() {
	if t.tj != nil {
		C.tjDestroy(t.tj)
		t.tj = nil
	}
	if t.out != nil {
		C.tjFree(t.out)
		t.out = nil
	}
}

package transcode

/*
#cgo pkg-config: libavutil libswscale
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

// vg_scalable tells whether swscale can read f: it asserts (aborts the
// process) on some formats it does not know, AV_PIX_FMT_NONE among them,
// and would read through missing planes.
static int vg_scalable(const AVFrame *f) {
	if (f->width <= 0 || f->height <= 0 || !sws_isSupportedInput(f->format)) {
		return 0;
	}
	int n = av_pix_fmt_count_planes(f->format);
	for (int i = 0; i < n; i++) {
		if (!f->data[i] || f->linesize[i] == 0) {
			return 0;
		}
	}
	return n > 0;
}
*/
import "C"

import (
	"fmt"

	"github.com/asticode/go-astiav"
)

// checkScalable refuses frames swscale cannot convert (it would abort the
// process on some), before it sees them.
func checkScalable(f *astiav.Frame) error {
	if C.vg_scalable((*C.AVFrame)(f.UnsafePointer())) == 0 {
		return fmt.Errorf("transcode: cannot convert a %dx%d %s frame", f.Width(), f.Height(), f.PixelFormat())
	}
	return nil
}

package vision

import (
	"image"

	"github.com/visiongate/visiongate/media"
)

// DrawSlate paints a whole frame as a "source unavailable" card with the
// given lines of text centred on it. The pipeline shows it while a source
// reconnects, so viewers see why the picture stopped.
func DrawSlate(f *media.Frame, lines ...string) {
	c, ok := newCanvas(f)
	if !ok {
		return
	}
	c.fill(image.Rect(0, 0, c.w, c.h), rgbToYUV(24, 28, 36))
	fc := faceFor(c.h)
	y := (c.h - len(lines)*fc.lineH) / 2
	for _, l := range lines {
		c.text((c.w-fc.width(l))/2, y, l, fc, white.y)
		y += fc.lineH
	}
}

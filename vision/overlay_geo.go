package vision

import (
	"fmt"
	"image"
	"math"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/analytics"
)

// zoneColour and lineColour mark the configured zones and lines.
var (
	zoneColour = rgbToYUV(255, 200, 0)
	lineColour = rgbToYUV(0, 220, 220)
)

// segment draws a line t pixels thick from a to b. Points snap to even
// coordinates so luma and chroma agree.
func (c canvas) segment(a, b [2]float64, t int, col yuv) {
	dx, dy := b[0]-a[0], b[1]-a[1]
	steps := int(math.Ceil(max(math.Abs(dx), math.Abs(dy)) / 2))
	if steps > 4*(c.w+c.h) || math.IsNaN(dx) || math.IsNaN(dy) {
		return // far outside the picture: nothing worth walking
	}
	for i := 0; i <= steps; i++ {
		f := 0.0
		if steps > 0 {
			f = float64(i) / float64(steps)
		}
		x, y := int(a[0]+f*dx)&^1, int(a[1]+f*dy)&^1
		c.fill(image.Rect(x-t/2, y-t/2, x-t/2+t, y-t/2+t), col)
	}
}

// drawGeometry outlines the zones and draws the lines with their live
// counts, so the picture shows what the events refer to.
func drawGeometry(c canvas, cfg analytics.Config, counts *media.Counts) {
	t := lineWidth(c.w)
	fc := faceFor(c.h)
	for _, z := range cfg.Zones {
		for i, p := range z.Polygon {
			c.segment(p, z.Polygon[(i+1)%len(z.Polygon)], t, zoneColour)
		}
		if len(z.Polygon) > 0 {
			p := z.Polygon[0]
			c.label(int(p[0]), int(p[1]), fmt.Sprintf("%s %d", z.Name, zoneTotal(counts, z.Name)), fc, zoneColour)
		}
	}
	for _, l := range cfg.Lines {
		c.segment(l.From, l.To, t, lineColour)
		var lc media.LineCount
		if counts != nil {
			lc = counts.Lines[l.Name]
		}
		c.label(int(l.From[0]), int(l.From[1]), fmt.Sprintf("%s in %d out %d", l.Name, lc.In, lc.Out), fc, lineColour)
	}
}

func zoneTotal(c *media.Counts, zone string) int {
	n := 0
	if c != nil {
		for _, k := range c.Zones[zone] {
			n += k
		}
	}
	return n
}

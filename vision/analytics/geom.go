package analytics

import (
	"slices"

	"github.com/visiongate/visiongate/media"
)

type point = [2]float64

// anchor is where an object stands: the bottom centre of its box.
func anchor(b media.Box) point {
	return point{float64(b.X) + float64(b.W)/2, float64(b.Y + b.H)}
}

// cross is the z component of (b-a) x (c-a): positive when c lies to the
// right of a->b in image coordinates (y down).
func cross(a, b, c point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func sign(v float64) int8 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// area is twice the signed area of a polygon (shoelace).
func area(poly []point) float64 {
	var s float64
	for i, p := range poly {
		q := poly[(i+1)%len(poly)]
		s += p[0]*q[1] - q[0]*p[1]
	}
	return s
}

// zone is a Zone ready for point tests.
type zone struct {
	name      string
	poly      []point
	lo, hi    point // bounding box, to skip most polygons cheaply
	labels    []string
	minFrames int
}

func newZone(z Zone) zone {
	c := zone{name: z.Name, poly: slices.Clone(z.Polygon), labels: slices.Clone(z.Labels),
		minFrames: max(z.MinFrames, 1)}
	c.lo, c.hi = c.poly[0], c.poly[0]
	for _, p := range c.poly {
		c.lo = point{min(c.lo[0], p[0]), min(c.lo[1], p[1])}
		c.hi = point{max(c.hi[0], p[0]), max(c.hi[1], p[1])}
	}
	return c
}

// contains tests p with the even-odd rule (a ray cast to the right).
func (z *zone) contains(p point) bool {
	if p[0] < z.lo[0] || p[0] > z.hi[0] || p[1] < z.lo[1] || p[1] > z.hi[1] {
		return false
	}
	in := false
	j := len(z.poly) - 1
	for i, a := range z.poly {
		b := z.poly[j]
		if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0]-a[0])*(p[1]-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
		j = i
	}
	return in
}

// line is a Line with its own copy of the label filter.
type line struct {
	name     string
	from, to point
	labels   []string
}

// side tells which side of the line's infinite extension p is on: 1 right
// (the side "in" leads to), -1 left, 0 on it.
func (l *line) side(p point) int8 { return sign(cross(l.from, l.to, p)) }

// crosses reports whether the move p->q, whose ends are on strictly
// opposite sides of the line, passes strictly between its end points.
func (l *line) crosses(p, q point) bool {
	a, b := sign(cross(p, q, l.from)), sign(cross(p, q, l.to))
	return a*b < 0
}

func passes(labels []string, label string) bool {
	return len(labels) == 0 || slices.Contains(labels, label)
}

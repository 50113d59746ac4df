package vision

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ShapeError reports a network output whose layout cannot be decoded.
type ShapeError struct {
	Format string
	Dims   []int
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("vision: cannot decode network output %v as %s", e.Dims, e.Format)
}

// LoadClassNames reads class names, one per line.
func LoadClassNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseClassNames(f)
}

// ParseClassNames splits r into trimmed lines; line i names class i. Blank
// lines keep their index; trailing blank lines are dropped.
func ParseClassNames(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		names = append(names, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	return names, nil
}

// detectFormat resolves FormatAuto from the output shape; nClasses (0 if
// unknown) settles ambiguous shapes. Six columns and at most maxEnd2End
// rows is an end-to-end export (x1,y1,x2,y2,score,class), unless the
// names say it is a one-class YOLOv5.
func detectFormat(format string, dims []int, nClasses int) (string, error) {
	if format != FormatAuto {
		return format, nil
	}
	d := squeeze(dims)
	switch {
	case len(d) != 2:
		return "", &ShapeError{Format: format, Dims: dims}
	case d[1] == 7 && len(dims) == 4:
		return FormatSSD, nil
	case d[1] == 6 && d[0] <= maxEnd2End && nClasses != 1:
		return FormatEnd2End, nil
	case nClasses > 0 && d[1] == nClasses+5:
		return FormatYOLOv5, nil
	case nClasses > 0 && d[0] == nClasses+4:
		return FormatYOLOv8, nil
	case d[0] > d[1]:
		return FormatYOLOv5, nil
	default:
		return FormatYOLOv8, nil
	}
}

// maxEnd2End is the most rows an end-to-end export has (max_det, 300 by
// default); YOLOv5 outputs have thousands.
const maxEnd2End = 1000

// squeeze drops leading size-1 dimensions down to two.
func squeeze(dims []int) []int {
	for len(dims) > 2 && dims[0] == 1 {
		dims = dims[1:]
	}
	return dims
}

// decode turns a network output into candidate boxes above conf, in
// detection-image pixels.
func decode(format string, dims []int, data []float32, g geometry, conf float32, nClasses int) ([]rect, error) {
	f, err := detectFormat(format, dims, nClasses)
	if err != nil {
		return nil, err
	}
	d := squeeze(dims)
	if len(d) != 2 || d[0] < 0 || d[1] < 0 || d[0]*d[1] > len(data) {
		return nil, &ShapeError{Format: f, Dims: dims}
	}
	switch {
	case f == FormatSSD && d[1] == 7:
		return decodeSSD(data[:d[0]*7], g, conf), nil
	case f == FormatEnd2End && d[1] == 6:
		return decodeEnd2End(data[:d[0]*6], g, conf), nil
	case f == FormatYOLOv5 && d[1] >= 5:
		return decodeYOLO(data, d[0], d[1], true, g, conf), nil
	case f == FormatYOLOv8 && d[0] >= 5:
		return decodeYOLO(data, d[1], d[0], false, g, conf), nil
	}
	return nil, &ShapeError{Format: f, Dims: dims}
}

// decodeYOLO reads n predictions of width w: cx, cy, w, h, [objectness],
// class scores. rowMajor is YOLOv5's [N][w]; otherwise YOLOv8's [w][N].
func decodeYOLO(data []float32, n, w int, rowMajor bool, g geometry, conf float32) []rect {
	at := func(i, k int) float32 { return data[k*n+i] }
	first := 4 // first class score
	if rowMajor {
		at = func(i, k int) float32 { return data[i*w+k] }
		first = 5
	}
	var cands []cand
	for i := 0; i < n; i++ {
		obj := float32(1)
		if rowMajor {
			obj = at(i, 4)
			if obj < conf {
				continue
			}
		}
		cls, best := 0, float32(1)
		if w > first {
			cls, best = argmax(func(k int) float32 { return at(i, first+k) }, w-first)
		}
		if s := obj * best; s >= conf {
			cands = append(cands, cand{at(i, 0), at(i, 1), at(i, 2), at(i, 3), s, cls})
		}
	}
	return centreBoxes(cands, g)
}

type cand struct {
	cx, cy, w, h, score float32
	class               int
}

// centreBoxes maps centre/size boxes from network input to image pixels.
// Some exports emit coordinates normalised to 0..1 instead of input pixels:
// when every candidate lies within 0..2 they are treated as normalised.
func centreBoxes(cs []cand, g geometry) []rect {
	norm := len(cs) > 0
	for _, c := range cs {
		if c.cx+c.w/2 > 2 || c.cy+c.h/2 > 2 {
			norm = false
			break
		}
	}
	nx, ny := float32(1), float32(1)
	if norm {
		nx, ny = float32(g.InW), float32(g.InH)
	}
	out := make([]rect, 0, len(cs))
	for _, c := range cs {
		cx, cy, w, h := c.cx*nx, c.cy*ny, c.w*nx, c.h*ny
		out = append(out, cornerRect(cx-w/2, cy-h/2, cx+w/2, cy+h/2, g, c.score, c.class))
	}
	return out
}

// decodeEnd2End reads rows of [x1, y1, x2, y2, score, class] in input
// pixels; the model already suppressed duplicates.
func decodeEnd2End(data []float32, g geometry, conf float32) []rect {
	var out []rect
	for i := 0; i+6 <= len(data); i += 6 {
		r := data[i : i+6]
		if !(r[4] >= conf) || r[5] < 0 || r[5] > math.MaxInt32 {
			continue
		}
		out = append(out, cornerRect(r[0], r[1], r[2], r[3], g, r[4], int(r[5])))
	}
	return out
}

// decodeSSD reads rows of [image, class, score, x1, y1, x2, y2] with
// coordinates in 0..1 of the input. Class ids count the background as 0,
// so class k is line k-1 of the names file (OpenCV's samples do the same).
func decodeSSD(data []float32, g geometry, conf float32) []rect {
	var out []rect
	iw, ih := float32(g.InW), float32(g.InH)
	for i := 0; i+7 <= len(data); i += 7 {
		r := data[i : i+7]
		if !(r[2] >= conf) || r[1] < 1 || r[1] > math.MaxInt32 {
			continue
		}
		out = append(out, cornerRect(r[3]*iw, r[4]*ih, r[5]*iw, r[6]*ih, g, r[2], int(r[1])-1))
	}
	return out
}

// cornerRect maps corners in input pixels to a clamped image rect.
func cornerRect(x0, y0, x1, y1 float32, g geometry, score float32, class int) rect {
	ax, ay := g.toImage(x0, y0)
	bx, by := g.toImage(x1, y1)
	return clampRect(ax, ay, bx-ax, by-ay, g, score, class)
}

func clampRect(x, y, w, h float32, g geometry, score float32, class int) rect {
	if !finite(x) || !finite(y) || !finite(w) || !finite(h) {
		return rect{Score: score, Class: class}
	}
	x0 := clampInt(int(math.Round(float64(x))), 0, g.ImgW)
	y0 := clampInt(int(math.Round(float64(y))), 0, g.ImgH)
	x1 := clampInt(int(math.Round(float64(x+w))), 0, g.ImgW)
	y1 := clampInt(int(math.Round(float64(y+h))), 0, g.ImgH)
	return rect{X: x0, Y: y0, W: x1 - x0, H: y1 - y0, Score: score, Class: class}
}

func argmax(v func(int) float32, n int) (int, float32) {
	best, bi := v(0), 0
	for k := 1; k < n; k++ {
		if s := v(k); s > best {
			best, bi = s, k
		}
	}
	return bi, best
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// className returns the name of class c, or "class c".
func className(names []string, c int) string {
	if c >= 0 && c < len(names) && names[c] != "" {
		return names[c]
	}
	return "class " + strconv.Itoa(c)
}

// classFilter keeps boxes whose class name or number is listed (all when
// the list is empty).
func classFilter(rs []rect, allow []string, names []string) []rect {
	if len(allow) == 0 {
		return rs
	}
	set := make(map[string]bool, len(allow))
	for _, a := range allow {
		set[strings.TrimSpace(a)] = true
	}
	out := rs[:0]
	for _, r := range rs {
		if set[className(names, r.Class)] || set[strconv.Itoa(r.Class)] {
			out = append(out, r)
		}
	}
	return out
}

// maxNMS bounds the candidates considered by nms (best scores first).
const maxNMS = 3000

// nms suppresses boxes overlapping a better scored box of the same class
// by more than thr (intersection over union), returning them best first.
// Plain Go: gocv's NMSBoxes lets OpenCV assertions abort the process.
func nms(rs []rect, thr float32) []rect {
	if thr <= 0 || len(rs) < 2 {
		return rs
	}
	sorted := slices.Clone(rs)
	slices.SortStableFunc(sorted, func(a, b rect) int { return cmp.Compare(b.Score, a.Score) })
	if len(sorted) > maxNMS {
		sorted = sorted[:maxNMS]
	}
	out := make([]rect, 0, len(sorted))
	for _, r := range sorted {
		keep := true
		for _, k := range out {
			if k.Class == r.Class && iou(k, r) > thr {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, r)
		}
	}
	return out
}

func iou(a, b rect) float32 {
	ix := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	iy := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := float32(ix * iy)
	return inter / (float32(a.W*a.H+b.W*b.H) - inter)
}

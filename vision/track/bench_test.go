package track

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
)

// benchScene lays n objects out on a grid, already confirmed in the
// returned Tracker; moveAll moves them.
func benchScene(n int) (*Tracker, []media.Box, time.Time) {
	dets := make([]media.Box, n)
	for i := range dets {
		dets[i] = media.Box{
			W: 60 + i%7, H: 150 + i%11,
			Label: []string{"person", "car"}[i%2], Score: 0.6 + float32(i%4)/10,
		}
	}
	tr := New(Config{})
	at := t0
	for range 3 {
		at = at.Add(fps5)
		moveAll(dets, at)
		tr.Update(at, dets)
	}
	return tr, dets, at
}

// moveAll puts each object on its own grid cell at, swinging back and
// forth (up to 100 px/s) so the filters see changing velocities.
func moveAll(dets []media.Box, at time.Time) {
	s := at.Sub(t0).Seconds()
	for i := range dets {
		d := &dets[i]
		w := 0.3 + float64(i%5)/10
		d.X = 100 + (i%10)*180 + int(100/w*math.Sin(w*s))
		d.Y = 100 + (i/10)*200 + int(60/w*math.Cos(w*s+float64(i)))
	}
}

func BenchmarkUpdate20(b *testing.B) {
	tr, dets, at := benchScene(20)
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(fps5)
		moveAll(dets, at)
		tr.Update(at, dets)
	}
}

func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{1, 5, 50} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tr, dets, at := benchScene(n)
			b.ReportAllocs()
			for b.Loop() {
				at = at.Add(fps5)
				moveAll(dets, at)
				tr.Update(at, dets)
			}
		})
	}
}

package pipeline

import "testing"

func TestTimeline(t *testing.T) {
	const frame = 3000 // 30 fps at 90 kHz
	type step struct {
		in   int64
		ok   bool
		want int64
	}
	cases := []struct {
		name  string
		num   int
		den   int
		steps []step
	}{
		{"starts at zero and follows input", 1, 90000, []step{{900000, true, 0}, {903000, true, 3000}, {906000, true, 6000}}},
		{"rescales the time base", 1, 1000, []step{{5000, true, 0}, {5033, true, 2970}, {5100, true, 9000}}},
		{"keeps a real gap", 1, 90000, []step{{0, true, 0}, {90000, true, 90000}}},
		{"missing timestamps advance one frame", 1, 90000, []step{{0, true, 0}, {0, false, frame}, {0, false, 2 * frame}}},
		{"backwards jump continues one frame later", 1, 90000, []step{{500000, true, 0}, {503000, true, 3000}, {100, true, 6000}, {3100, true, 9000}}},
		{"duplicate timestamp still increases", 1, 90000, []step{{0, true, 0}, {0, true, frame}}},
		{"33-bit wrap", 1, 90000, []step{{1<<33 - 3000, true, 0}, {0, true, 3000}, {3000, true, 6000}}},
		{"huge forward jump is closed up", 1, 90000, []step{{0, true, 0}, {100 * 90000, true, frame}, {100*90000 + 3000, true, 2 * frame}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl := NewTimeline()
			tl.SetInput(c.num, c.den, 30)
			for i, s := range c.steps {
				if got := tl.Map(s.in, s.ok); got != s.want {
					t.Fatalf("step %d: Map(%d) = %d, want %d", i, s.in, got, s.want)
				}
			}
		})
	}
}

func TestTimelineContinuesAcrossInputs(t *testing.T) {
	tl := NewTimeline()
	tl.SetInput(1, 90000, 30)
	tl.Map(1000, true)
	last := tl.Map(4000, true)
	// A reconnect: the camera's clock starts anywhere.
	tl.SetInput(1, 1000, 25)
	first := tl.Map(777777, true)
	if first != last+3600 {
		t.Fatalf("after reconnect got %d, want %d (one 25 fps frame after %d)", first, last+3600, last)
	}
	if next := tl.Map(777817, true); next != first+3600 {
		t.Fatalf("second frame %d, want %d", next, first+3600)
	}
}

func FuzzTimelineMonotonic(f *testing.F) {
	f.Add(int64(0), int64(3000), int64(-5), true)
	f.Add(int64(1<<33), int64(0), int64(1<<40), false)
	f.Fuzz(func(t *testing.T, a, b, c int64, ok bool) {
		tl := NewTimeline()
		tl.SetInput(1, 90000, 30)
		last := int64(-1)
		for _, ts := range []int64{a, b, c, a, c} {
			ts %= 1 << 40 // inputs beyond 2^40 at 90 kHz are 400 years
			got := tl.Map(ts, ok)
			if got <= last {
				t.Fatalf("Map(%d) = %d after %d", ts, got, last)
			}
			last = got
		}
	})
}

func TestTimelineContinueAfter(t *testing.T) {
	tl := NewTimeline()
	tl.ContinueAfter(900000)
	tl.SetInput(1, 90000, 30)
	if got := tl.Map(0, true); got != 903000 {
		t.Fatalf("first timestamp %d, want 903000", got)
	}
	if got := tl.Map(3000, true); got != 906000 {
		t.Fatalf("second timestamp %d, want 906000", got)
	}
}

package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
)

var testInfo = &media.StreamInfo{Codec: media.CodecH264, Width: 64, Height: 48}

// gop returns n units, an IDR every gopLen units starting at unit 0; PTS is
// the unit's index so tests can tell units apart.
func gop(n, gopLen int) []*media.AccessUnit {
	aus := make([]*media.AccessUnit, n)
	for i := range aus {
		aus[i] = &media.AccessUnit{Info: testInfo, PTS: int64(i), IDR: i%gopLen == 0}
	}
	return aus
}

// drain reads every queued unit without blocking and returns their PTS.
func drain(t *testing.T, r *Reader) []int64 {
	t.Helper()
	var got []int64
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		au, err := r.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, au.PTS)
	}
}

func ptsRange(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaderSequence(t *testing.T) {
	cases := []struct {
		name        string
		units       []*media.AccessUnit
		ring        int
		want        []int64
		wantDropped uint64
	}{
		{"fits", gop(8, 4), 16, ptsRange(0, 8), 0},
		{"starts at first IDR", gop(12, 4)[2:], 16, ptsRange(4, 12), 0},
		{"no IDR yet", gop(4, 4)[1:], 16, nil, 0},
		// 0-3 queued, 4 overflows (4 flushed + 4..9 skipped), 10-13 queued.
		{"overflow resumes at IDR", gop(14, 10), 4, ptsRange(10, 14), 10},
		// IDR arriving on a full ring replaces the backlog at once.
		{"overflow on IDR", gop(6, 3), 3, ptsRange(3, 6), 3},
		{"overflow with no later IDR", gop(9, 100), 4, nil, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := New("t")
			r := h.Subscribe(c.ring)
			defer r.Close()
			for _, au := range c.units {
				h.Publish(au)
			}
			if got := drain(t, r); !equal(got, c.want) {
				t.Errorf("got PTS %v, want %v", got, c.want)
			}
			if d := r.Dropped(); d != c.wantDropped {
				t.Errorf("Dropped() = %d, want %d", d, c.wantDropped)
			}
		})
	}
}

func TestSlowReaderDoesNotSlowFastOne(t *testing.T) {
	const n = 2005 // ends 5 units into a GOP, so the slow ring is not empty
	h := New("t")
	fast := h.Subscribe(n)
	slow := h.Subscribe(8)
	defer slow.Close()

	got := make(chan int, 1)
	go func() {
		count := 0
		for {
			if _, err := fast.Next(t.Context()); err != nil {
				got <- count
				return
			}
			count++
		}
	}()
	for _, au := range gop(n, 25) {
		h.Publish(au)
	}
	waitFor(t, func() bool { return fast.n0() == 0 })
	fast.Close()
	if c := <-got; c != n {
		t.Errorf("fast reader got %d units, want %d", c, n)
	}
	if fast.Dropped() != 0 {
		t.Errorf("fast reader dropped %d", fast.Dropped())
	}
	if slow.Dropped() == 0 {
		t.Error("slow reader dropped nothing")
	}
	// What the slow reader still has starts at an IDR.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	first, err := slow.Next(ctx)
	if err != nil || !first.IDR {
		t.Errorf("slow reader resumed with %+v, %v; want an IDR", first, err)
	}
}

// n0 reports the queued units, for tests.
func (r *Reader) n0() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseWakesBlockedReaders(t *testing.T) {
	h := New("t")
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		r := h.Subscribe(0)
		wg.Go(func() {
			_, err := r.Next(t.Context())
			errs <- err
		})
	}
	waitFor(t, func() bool { return h.Readers() == 5 })
	h.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v, want ErrClosed", err)
		}
	}
	if h.Readers() != 0 {
		t.Errorf("Readers() = %d after Close", h.Readers())
	}
	h.Publish(gop(1, 1)[0]) // no-op, no panic
	if h.Latest() != nil {
		t.Error("Publish after Close changed Latest")
	}
	if _, err := h.Subscribe(0).Next(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: Next = %v, want ErrClosed", err)
	}
	h.Close() // idempotent
}

func TestReaderClose(t *testing.T) {
	h := New("t")
	r := h.Subscribe(0)
	done := make(chan error)
	go func() {
		_, err := r.Next(t.Context())
		done <- err
	}()
	r.Close()
	r.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Reader.Close: %v", err)
	}
	if h.Readers() != 0 {
		t.Errorf("Readers() = %d", h.Readers())
	}
	h.Publish(gop(1, 1)[0])
}

func TestNextContext(t *testing.T) {
	r := New("t").Subscribe(0)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next = %v, want DeadlineExceeded", err)
	}
}

func TestInfo(t *testing.T) {
	h := New("cam")
	if h.Name() != "cam" || h.Latest() != nil || h.LastKeyframeInfo() != nil {
		t.Fatal("fresh hub not empty")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := h.WaitInfo(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitInfo before IDR = %v", err)
	}

	got := make(chan *media.StreamInfo)
	go func() {
		info, _ := h.WaitInfo(t.Context())
		got <- info
	}()
	p := &media.AccessUnit{Info: testInfo}
	h.Publish(p) // not an IDR: WaitInfo keeps waiting
	if h.Latest() != p || h.LastKeyframeInfo() != nil {
		t.Error("non-IDR unit: wrong Latest/LastKeyframeInfo")
	}
	info2 := &media.StreamInfo{Codec: media.CodecH264, Width: 2, Height: 2}
	h.Publish(&media.AccessUnit{Info: info2, IDR: true})
	if info := <-got; info != info2 {
		t.Errorf("WaitInfo = %v, want %v", info, info2)
	}
	if h.LastKeyframeInfo() != info2 {
		t.Error("LastKeyframeInfo not updated")
	}
	h.Close()
	if _, err := h.WaitInfo(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitInfo after Close = %v", err)
	}
}

func TestWaitInfoClosed(t *testing.T) {
	h := New("t")
	errc := make(chan error)
	go func() {
		_, err := h.WaitInfo(t.Context())
		errc <- err
	}()
	h.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("WaitInfo = %v, want ErrClosed", err)
	}
}

// TestConcurrent runs publishers, consuming and churning readers and Close
// at once (for -race) and checks what every reader got, which holds with or
// without the race detector: only published units, each publisher's in
// order, the first an IDR; for the readers there from the first unit to the
// last, every unit either received or counted in Dropped; after Close,
// Publish is a no-op and every reader ends with ErrClosed.
func TestConcurrent(t *testing.T) {
	const perPub, pubs = 500, 2
	const total = perPub * pubs
	h := New("t")
	// Publisher p's unit i has PTS p*perPub+i, so readers can tell them apart.
	var units [pubs][]*media.AccessUnit
	published := map[*media.AccessUnit]bool{}
	for p := range units {
		units[p] = gop(perPub, 10)
		for i, au := range units[p] {
			au.PTS = int64(p*perPub + i)
			published[au] = true
		}
	}
	// check verifies one reader's units. PTS from total on are the units
	// published while Close runs (the last publisher), not in published.
	check := func(who string, got []*media.AccessUnit) {
		last := [pubs + 1]int64{-1, -1, -1}
		for i, au := range got {
			if au.PTS < total && !published[au] {
				t.Errorf("%s: unit %d (PTS %d) was never published", who, i, au.PTS)
				return
			}
			p := min(au.PTS/perPub, pubs)
			if au.PTS <= last[p] {
				t.Errorf("%s: PTS %d after %d: a publisher's units out of order or repeated", who, au.PTS, last[p])
				return
			}
			last[p] = au.PTS
		}
		if len(got) > 0 && !got[0].IDR {
			t.Errorf("%s: first unit (PTS %d) is not an IDR", who, got[0].PTS)
		}
	}
	// next polls briefly, so a caller can look at its counters between
	// calls: a unit the hub drops wakes nobody.
	next := func(r *Reader) (*media.AccessUnit, error) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		defer cancel()
		return r.Next(ctx)
	}
	// drain reads until every unit is received or counted as dropped.
	drain := func(who string, r *Reader, got *[]*media.AccessUnit) {
		deadline := time.Now().Add(10 * time.Second)
		for len(*got)+int(r.Dropped()) < total {
			if time.Now().After(deadline) {
				t.Errorf("%s: %d received + %d dropped of %d published after 10 s", who, len(*got), r.Dropped(), total)
				return
			}
			au, err := next(r)
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: Next: %v", who, err)
				return
			}
			if au != nil {
				*got = append(*got, au)
			}
		}
	}

	// Watchers are there from the first unit to the last. The stalled one
	// reads nothing until publishing ends, so its ring of 4 must overflow.
	type watcher struct {
		name    string
		r       *Reader
		stalled bool
		got     []*media.AccessUnit
	}
	watchers := []*watcher{
		{name: "lossless (ring 1000)", r: h.Subscribe(total)},
		{name: "ring 16", r: h.Subscribe(16)},
		{name: "ring 4", r: h.Subscribe(4)},
		{name: "stalled (ring 4)", r: h.Subscribe(4), stalled: true},
	}
	var watching, publishing, churning sync.WaitGroup
	for _, w := range watchers {
		if !w.stalled {
			watching.Go(func() { drain(w.name, w.r, &w.got) })
		}
	}
	for i := range 8 {
		churning.Go(func() {
			// Subscribe, read a little, leave; until the hub is closed.
			deadline := time.Now().Add(20 * time.Second)
			for n := 0; ; n++ {
				r := h.Subscribe(16)
				var got []*media.AccessUnit
				var err error
				for range 10 {
					var au *media.AccessUnit
					if au, err = next(r); au != nil {
						got = append(got, au)
					}
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						break
					}
				}
				_ = r.Dropped()
				r.Close()
				check(fmt.Sprintf("churner %d, reader %d", i, n), got)
				switch {
				case errors.Is(err, ErrClosed):
					return
				case err != nil && !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("churner %d: Next: %v", i, err)
					return
				case time.Now().After(deadline):
					t.Errorf("churner %d: hub not closed after 20 s", i)
					return
				}
			}
		})
	}
	for p := range units {
		publishing.Go(func() {
			for _, au := range units[p] {
				h.Publish(au)
				if !published[h.Latest()] {
					t.Errorf("Latest is a unit never published")
				}
				if ki := h.LastKeyframeInfo(); ki != testInfo {
					t.Errorf("LastKeyframeInfo = %v after an IDR with %v", ki, testInfo)
				}
			}
		})
	}
	publishing.Wait()
	for _, w := range watchers {
		if w.stalled {
			watching.Go(func() { drain(w.name, w.r, &w.got) })
		}
	}
	watching.Wait()
	for _, w := range watchers {
		check(w.name, w.got)
		if d := w.r.Dropped(); len(w.got)+int(d) != total {
			t.Errorf("%s: %d received + %d dropped, want %d", w.name, len(w.got), d, total)
		}
	}
	if w := watchers[0]; len(w.got) != total || w.r.Dropped() != 0 {
		t.Errorf("%s: %d units, %d dropped; want all %d, none dropped", w.name, len(w.got), w.r.Dropped(), total)
	}
	if w := watchers[3]; len(w.got) > 4 || w.r.Dropped() < total-4 {
		t.Errorf("%s: %d units, %d dropped; want at most the ring's 4", w.name, len(w.got), w.r.Dropped())
	}

	// Close while the churners run and a publisher publishes, which must
	// see Publish become a no-op.
	publishing.Go(func() {
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; ; i++ {
			au := &media.AccessUnit{Info: testInfo, PTS: int64(total + i), IDR: i%10 == 0}
			h.Publish(au)
			if h.Latest() != au {
				return // closed: Publish did nothing
			}
			if time.Now().After(deadline) {
				t.Error("Publish after Close still changes Latest")
				return
			}
		}
	})
	h.Close()
	publishing.Wait()
	churning.Wait()
	for _, w := range watchers {
		if _, err := w.r.Next(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Next after Close = %v, want ErrClosed", w.name, err)
		}
	}
	if n := h.Readers(); n != 0 {
		t.Errorf("Readers() = %d after Close", n)
	}
}

func TestPublishAllocs(t *testing.T) {
	h := New("t")
	for range 10 {
		defer h.Subscribe(4).Close()
	}
	units := gop(8, 4)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		h.Publish(units[i%len(units)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Publish allocates %v per call, want 0", allocs)
	}
}

func BenchmarkPublish100Readers(b *testing.B) {
	h := New("b")
	var wg sync.WaitGroup
	for range 100 {
		r := h.Subscribe(0)
		wg.Go(func() {
			for {
				if _, err := r.Next(context.Background()); err != nil {
					return
				}
			}
		})
	}
	units := gop(50, 25)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.Publish(units[i%len(units)])
	}
	b.StopTimer()
	h.Close()
	wg.Wait()
}

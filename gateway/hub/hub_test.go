package hub

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/media"
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

// TestConcurrent is for -race: publishers, churning readers and Close.
func TestConcurrent(t *testing.T) {
	h := New("t")
	units := gop(500, 10)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for _, au := range units {
				h.Publish(au)
				_ = h.Latest()
				_ = h.LastKeyframeInfo()
			}
		})
	}
	for range 8 {
		wg.Go(func() {
			for range 20 {
				r := h.Subscribe(16)
				for range 10 {
					ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
					_, err := r.Next(ctx)
					cancel()
					if errors.Is(err, ErrClosed) {
						break
					}
				}
				_ = r.Dropped()
				r.Close()
			}
		})
	}
	wg.Go(func() {
		time.Sleep(5 * time.Millisecond)
		h.Close()
	})
	wg.Wait()
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

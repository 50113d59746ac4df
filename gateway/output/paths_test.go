package output

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/hub"
)

type testPath struct {
	Life
	id       int
	ran      atomic.Bool // started
	returned atomic.Bool // its goroutine returned

	mu    sync.Mutex
	value int // 0: not ready
	err   error
}

// testPaths is a registry whose paths serve until stopped; newPath numbers
// them from 1 in made.
type testPaths struct {
	Paths[*testPath]
	made []*testPath
}

func (ts *testPaths) attach(name string, h *hub.Hub) {
	ts.Attach(name, h, func(parent context.Context) *testPath {
		p := &testPath{id: len(ts.made) + 1}
		p.Init(parent, &p.mu)
		ts.made = append(ts.made, p)
		return p
	})
}

func (ts *testPaths) start() {
	ts.Start(func(p *testPath) func() {
		p.ran.Store(true)
		return func() {
			defer p.returned.Store(true)
			defer p.End()
			<-p.Context().Done()
		}
	})
}

// ids returns the ids of the made paths for which f holds.
func (ts *testPaths) ids(f func(*testPath) bool) []int {
	var ids []int
	for _, p := range ts.made {
		if f(p) {
			ids = append(ids, p.id)
		}
	}
	return ids
}

func TestPaths(t *testing.T) {
	a, b := hub.New("a"), hub.New("b")
	type op func(*testPaths)
	attach := func(name string, h *hub.Hub) op { return func(ts *testPaths) { ts.attach(name, h) } }
	detach := func(name string) op { return func(ts *testPaths) { ts.Detach(name) } }
	start := func(ts *testPaths) { ts.start() }
	closeAll := func(ts *testPaths) { ts.Close() }
	for _, c := range []struct {
		name    string
		ops     []op
		want    map[string]int // name → id Lookup finds
		ran     []int
		stopped []int
	}{
		{"attach before start waits for Start", []op{attach("x", a)}, map[string]int{"x": 1}, nil, nil},
		{"start runs the attached paths", []op{attach("x", a), start, attach("y", b)},
			map[string]int{"x": 1, "y": 2}, []int{1, 2}, nil},
		{"same hub keeps the path", []op{start, attach("x", a), attach("x", a)},
			map[string]int{"x": 1}, []int{1}, nil},
		{"another hub replaces and stops it", []op{start, attach("x", a), attach("x", b)},
			map[string]int{"x": 2}, []int{1, 2}, []int{1}},
		{"replaced before start never runs", []op{attach("x", a), attach("x", b), start},
			map[string]int{"x": 2}, []int{2}, []int{1}},
		{"detach stops", []op{start, attach("x", a), attach("y", b), detach("x"), detach("nope")},
			map[string]int{"y": 2}, []int{1, 2}, []int{1}},
		{"close stops all and ignores attach", []op{attach("x", a), start, attach("y", b), closeAll, attach("z", a), closeAll},
			map[string]int{}, []int{1, 2}, []int{1, 2}},
		{"close before start", []op{attach("x", a), closeAll, start},
			map[string]int{}, nil, []int{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := &testPaths{}
			for _, o := range c.ops {
				o(ts)
			}
			got := map[string]int{}
			for _, name := range []string{"x", "y", "z"} {
				if p := ts.Lookup(name); p != nil {
					got[name] = p.id
				}
			}
			if !maps.Equal(got, c.want) {
				t.Errorf("attached %v, want %v", got, c.want)
			}
			if ran := ts.ids(func(p *testPath) bool { return p.ran.Load() }); !slices.Equal(ran, c.ran) {
				t.Errorf("ran %v, want %v", ran, c.ran)
			}
			stopped := ts.ids(func(p *testPath) bool { return p.Context().Err() != nil })
			if !slices.Equal(stopped, c.stopped) {
				t.Errorf("stopped %v, want %v", stopped, c.stopped)
			}
			for _, p := range ts.made { // Stop returns after the goroutine
				if p.Context().Err() != nil && p.ran.Load() && !p.returned.Load() {
					t.Errorf("path %d stopped but its goroutine still runs", p.id)
				}
			}
			ts.Close()
			if live := ts.ids(func(p *testPath) bool { return p.ran.Load() && !p.returned.Load() }); live != nil {
				t.Errorf("paths %v still run after Close", live)
			}
		})
	}
}

func TestWait(t *testing.T) {
	errGone, errNotReady, errBroken := errors.New("gone"), errors.New("not ready"), errors.New("broken")
	set := func(v int, err error) func(*testPaths, *testPath, context.CancelFunc) {
		return func(_ *testPaths, p *testPath, _ context.CancelFunc) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.value, p.err = v, err
			p.BroadcastLocked()
		}
	}
	for _, c := range []struct {
		name    string
		value   int                                             // before Wait
		act     func(*testPaths, *testPath, context.CancelFunc) // once Wait has looked
		want    int
		wantErr error
	}{
		{"ready at once", 7, nil, 7, nil},
		{"ready after a change", 0, set(3, nil), 3, nil},
		{"not ready yet is an error", 0, set(0, errBroken), 0, errBroken},
		{"timeout", 0, nil, 0, errNotReady},
		{"caller cancelled", 0, func(_ *testPaths, _ *testPath, cancel context.CancelFunc) { cancel() }, 0, context.Canceled},
		{"path stopped", 0, func(_ *testPaths, p *testPath, _ context.CancelFunc) { p.Stop() }, 0, errGone},
		{"path ended", 0, func(_ *testPaths, p *testPath, _ context.CancelFunc) { p.End() }, 0, errGone},
		{"registry closed", 0, func(ts *testPaths, _ *testPath, _ context.CancelFunc) { ts.Close() }, 0, errGone},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := &testPaths{}
			defer ts.Close()
			ts.attach("x", hub.New("x"))
			p := ts.Lookup("x")
			p.value = c.value
			timeout := time.Hour
			if c.act == nil {
				timeout = 20 * time.Millisecond
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx, stop := context.WithTimeoutCause(ctx, timeout, errNotReady)
			defer stop()
			var looked atomic.Int32
			if c.act != nil {
				go func() {
					for looked.Load() == 0 {
						time.Sleep(time.Millisecond)
					}
					c.act(ts, p, cancel)
				}()
			}
			got, err := Wait(ctx, &p.Life, errGone, func() (int, bool, error) {
				looked.Add(1)
				return p.value, p.value != 0, p.err
			})
			if got != c.want || !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Errorf("Wait = %d, %v; want %d, %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

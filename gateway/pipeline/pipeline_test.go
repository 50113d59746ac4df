package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/media"
)

// panicOnce panics on the 5th frame it sees, then behaves.
type panicOnce struct{ n atomic.Int32 }

func (p *panicOnce) Observe(f *media.Frame) { p.Process(f) }

func (p *panicOnce) Process(*media.Frame) {
	if p.n.Add(1) == 5 {
		panic("detector blew up")
	}
}

func startLavfi(t *testing.T, stage FrameStage) (*Pipeline, *hub.Hub) {
	t.Helper()
	cfg := config.Default()
	src := cfg.Resolve(config.Source{Name: "p", URL: "lavfi:testsrc2=size=160x120:rate=25"})
	u, err := config.ParseSourceURL(src.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New("p")
	p := New(Options{Source: src, URL: u, Hub: h, Stage: stage,
		Backoff: Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	p.Start()
	t.Cleanup(func() { p.Stop(); h.Close() })
	return p, h
}

// A panic inside a source is recovered: the source restarts by itself and
// its output timestamps keep increasing.
func TestPanicRestartsTheSource(t *testing.T) {
	p, h := startLavfi(t, &panicOnce{})
	r := h.Subscribe(64)
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var last int64 = -1
	for p.Stats().Attempts < 2 || p.Stats().FramesOut < 20 {
		au, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("stats %+v: %v", p.Stats(), err)
		}
		if au.PTS <= last {
			t.Fatalf("pts %d after %d", au.PTS, last)
		}
		last = au.PTS
	}
	if st := p.Stats(); st.State != StateRunning || st.LastError == "" {
		t.Errorf("after the panic: %+v", st)
	}
}

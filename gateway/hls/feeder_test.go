package hls

import (
	"context"
	"testing"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/media"
)

// TestFeederRestarts checks when the muxer is replaced: new parameters (at
// the next IDR only), timestamps going backwards; and when it is not: a new
// Info pointer with the same parameters.
func TestFeederRestarts(t *testing.T) {
	cfg := (&Server{}).settings()
	p := newPath(context.Background(), "x", hub.New("x"), cfg)
	p.first.Close()
	f := &feeder{p: p, cfg: cfg, log: testLogger(t)}
	defer f.close()

	n := 0
	write := func(c *clip, info *media.StreamInfo) {
		au := c.unit(n)
		if info != nil {
			au.Info = info
		}
		f.write(au)
		n++
	}
	write(clip320, nil)
	m := p.current()
	if m == nil {
		t.Fatal("no muxer after the first IDR")
	}
	same := *clip320.info
	for range 30 { // past the next IDR, with an equal Info
		write(clip320, &same)
	}
	if p.current() != m {
		t.Fatal("muxer replaced for an identical Info")
	}
	if !p.ready {
		t.Fatal("not ready after a segment")
	}
	write(clip160, nil) // unit 31 of the new clip: not an IDR
	if p.current() != m {
		t.Fatal("muxer replaced at a non-IDR unit")
	}
	n = 0 // an IDR, timestamps back at 0, new size
	write(clip160, nil)
	m2 := p.current()
	if m2 == nil || m2 == m || p.ready {
		t.Fatal("muxer not replaced for new parameters")
	}
	write(clip160, nil)
	write(clip160, nil) // n=2
	n = 1
	write(clip160, nil) // a non-IDR older than the last unit: dropped
	if p.current() != m2 {
		t.Fatal("muxer replaced before an IDR")
	}
	n = 50
	write(clip160, nil) // next IDR: a fresh muxer
	if m3 := p.current(); m3 == nil || m3 == m2 {
		t.Fatal("muxer not rebuilt at the IDR after timestamps went backwards")
	}
}

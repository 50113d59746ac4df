package hls

import (
	"sync/atomic"
	"testing"

	"github.com/visiongate/visiongate/media"
)

// A panic while muxing one unit costs that unit, not the path: segments
// keep coming after it.
func TestPanicInMuxerIsRecovered(t *testing.T) {
	var panics atomic.Int64
	writeHook = func(au *media.AccessUnit) {
		if au.PTS >= 2*media.ClockRate && panics.Add(1) == 1 {
			panic("muxer bug")
		}
	}
	defer func() { writeHook = nil }()
	e := newEnv(t, &Server{}, clip320)
	uri := parseMultivariant(t, mustGet(t, e.url("index.m3u8"))).Variants[0].URI
	last := func() int {
		m := parseMedia(t, mustGet(t, e.url(uri)))
		return m.MediaSequence + len(m.Segments)
	}
	waitFor(t, "the panic at 2 s", func() bool { return panics.Load() == 1 })
	after := last()
	waitFor(t, "two more segments after the panic", func() bool { return last() >= after+2 })
}

package rtsp

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/visiongate/visiongate/media"
)

// A panic while writing one unit costs that unit, not the path: the
// reader keeps playing, and the path's goroutine lives on.
func TestPanicInWriterIsRecovered(t *testing.T) {
	var panics atomic.Int64
	writeHook = func(au *media.AccessUnit) {
		if au.PTS == 30*3600 && panics.Add(1) == 1 {
			panic("writer bug")
		}
	}
	defer func() { writeHook = nil }()
	s, h, src := servingCam(t, nil)
	c := newClient(t, s, gortsplib.ProtocolTCP)
	r, _ := play(t, c, pathURL(t, s, "cam"))
	src.n = 0
	publish(h, src, 100, 2*time.Millisecond)
	waitFor(t, "units after the panic", func() bool { return r.units() >= 90 })
	if panics.Load() != 1 {
		t.Fatalf("the hook panicked %d times, want once", panics.Load())
	}
}

// Concurrent PLAYs never take a path past MaxReaders.
func TestReaderCapIsAtomic(t *testing.T) {
	s, _, _ := servingCam(t, func(s *Server) { s.MaxReaders = 3 })
	p := s.lookup("cam")
	var added atomic.Int64
	done := make(chan struct{})
	for range 20 {
		go func() {
			defer func() { done <- struct{}{} }()
			if p.addReader(&gortsplib.ServerSession{}, s.MaxReaders, nil) == readerAdded {
				added.Add(1)
			}
		}()
	}
	for range 20 {
		<-done
	}
	if added.Load() != 3 || s.Readers("cam") != 3 {
		t.Fatalf("%d readers added, %d counted, want 3", added.Load(), s.Readers("cam"))
	}
}

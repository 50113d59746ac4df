package hls

import (
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// RFC 8216bis 6.2.5.2: a blocking reload for the part one past the last
// part of segment N is answered once part 0 of segment N+1 exists, not
// when all of N+1 is done. gohlslib v2.4 waits for the whole segment; the
// server rewrites such requests. If gohlslib changes, this keeps watch.
func TestBlockingReloadPastLastPart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{}, clip320)
	uri := parseMultivariant(t, mustGet(t, e.url("index.m3u8"))).Variants[0].URI
	for round := range 3 {
		n, parts := freshSegment(t, e.url(uri))
		url := e.url(fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", uri, n, parts))
		start := time.Now()
		m := parseMedia(t, mustGet(t, url))
		last := m.MediaSequence + len(m.Segments) - 1
		t.Logf("round %d: part %d of segment %d answered after %v; last complete segment %d, %d parts of the next",
			round, parts, n, time.Since(start).Round(time.Millisecond), last, len(m.Parts))
		if last != n || len(m.Parts) == 0 {
			t.Fatalf("answered with segment %d complete and %d parts after it: want segment %d still being written, with its part 0",
				last, len(m.Parts), n+1)
		}
	}
}

// freshSegment waits for a playlist whose last complete segment has parts
// and whose next segment has at most one part yet, far from completing.
func freshSegment(t *testing.T, url string) (msn, parts int) {
	t.Helper()
	var m *playlist.Media
	waitFor(t, "a segment that just started", func() bool {
		m = parseMedia(t, mustGet(t, url))
		k := len(m.Segments)
		return k > 0 && len(m.Segments[k-1].Parts) > 1 && len(m.Parts) <= 1
	})
	k := len(m.Segments)
	return m.MediaSequence + k - 1, len(m.Segments[k-1].Parts)
}

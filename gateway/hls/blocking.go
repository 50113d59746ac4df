package hls

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// muxerHandler is what nextSegmentPart needs of a gohlslib muxer.
type muxerHandler interface {
	Handle(w http.ResponseWriter, r *http.Request)
}

// nextSegmentPart fixes a blocking playlist reload per RFC 8216bis
// 6.2.5.2: a request for part P of segment N, where P is one past the last
// part of the (complete) segment N, asks for part 0 of segment N+1.
// gohlslib v2.4 waits for the whole of segment N+1 instead (a second
// rather than a part's 200 ms), so players using that form stall once per
// segment. The query is rewritten to the form gohlslib answers at once.
func nextSegmentPart(m muxerHandler, r *http.Request) {
	q := r.URL.Query()
	msn, err1 := strconv.Atoi(q.Get("_HLS_msn"))
	part, err2 := strconv.Atoi(q.Get("_HLS_part"))
	if err1 != nil || err2 != nil || msn < 0 || part <= 0 {
		return
	}
	parts, ok := completedParts(m, r, msn)
	if !ok || part < parts {
		return // a part of segment N, or N is still being written: gohlslib is right
	}
	q.Set("_HLS_msn", strconv.Itoa(msn+1))
	q.Set("_HLS_part", strconv.Itoa(part-parts))
	r.URL.RawQuery = q.Encode()
}

// completedParts returns how many parts segment msn has when the current
// playlist lists it as complete with its parts.
func completedParts(m muxerHandler, r *http.Request, msn int) (int, bool) {
	now := r.Clone(r.Context())
	now.URL = &url.URL{Path: r.URL.Path} // no blocking: the playlist as it is
	var buf bufferWriter
	m.Handle(&buf, now)
	pl, err := playlist.Unmarshal(buf.body.Bytes())
	if err != nil || buf.code != http.StatusOK {
		return 0, false
	}
	media, ok := pl.(*playlist.Media)
	if !ok {
		return 0, false
	}
	i := msn - media.MediaSequence
	if i < 0 || i >= len(media.Segments) || len(media.Segments[i].Parts) == 0 {
		return 0, false
	}
	return len(media.Segments[i].Parts), true
}

// bufferWriter keeps a response in memory.
type bufferWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}

func (b *bufferWriter) WriteHeader(code int) { b.code = code }

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}

package hls

import (
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// TestLowLatency plays one live path through every kind of client.
func TestLowLatency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{}, clip320)

	r := get(t, e.url("index.m3u8")) // waits for the first segment
	if r.code != 200 || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("index.m3u8: %d %v %s", r.code, r.header, r.body)
	}
	mv := parseMultivariant(t, r.body)
	v := mv.Variants[0]
	if v.Resolution != "320x240" || !slices.ContainsFunc(v.Codecs, func(c string) bool {
		return strings.HasPrefix(c, "avc1.")
	}) {
		t.Fatalf("variant: %+v", v)
	}
	m := parseMedia(t, mustGet(t, e.url(v.URI)))
	if m.PartInf == nil || m.ServerControl == nil || !m.ServerControl.CanBlockReload || m.Map == nil {
		t.Fatalf("not a low-latency fMP4 playlist: %+v", m)
	}
	if m.PreloadHint == nil || len(m.Parts)+len(realSegments(m)[0].Parts) == 0 {
		t.Fatalf("no parts: %+v", m)
	}
	seg := realSegments(m)[0]
	media := append(mustGet(t, e.url(m.Map.URI)), mustGet(t, e.url(seg.URI))...)
	wantVideo(t, ffprobe(t, media), "mp4", 320, 240)

	t.Run("latency", func(t *testing.T) { measureLatency(t, e, v.URI) })
	t.Run("gohlslib client", func(t *testing.T) { playWithClient(t, e) })
	t.Run("ffmpeg", func(t *testing.T) { playWithFFmpeg(t, e) })
}

// measureLatency fetches the part each preload hint announces (the request
// blocks until the part is complete) and compares its arrival with when the
// hub published the part's first and last frames.
func measureLatency(t *testing.T, e *env, mediaURI string) {
	var first, last []time.Duration
	for range 8 {
		m := parseMedia(t, mustGet(t, e.url(mediaURI)))
		if m.PreloadHint == nil {
			t.Fatal("no preload hint")
		}
		body := mustGet(t, e.url(m.PreloadHint.URI))
		arrived := time.Now()
		var parts fmp4.Parts
		if err := parts.Unmarshal(body); err != nil || len(parts) == 0 || len(parts[0].Tracks) != 1 {
			t.Fatalf("part: %v", err)
		}
		tr := parts[0].Tracks[0]
		// The muxer starts its fMP4 timeline at 10 s; the test's first IDR
		// has PTS 0.
		dts := int64(tr.BaseTime) - 10*90000
		for i, s := range tr.Samples {
			pub, ok := e.pub.publishedAt(dts)
			if !ok {
				t.Fatalf("part sample at %d was never published", dts)
			}
			if i == 0 {
				first = append(first, arrived.Sub(pub))
			}
			if i == len(tr.Samples)-1 {
				last = append(last, arrived.Sub(pub))
			}
			dts += int64(s.Duration)
		}
	}
	t.Logf("publish -> part downloadable: first frame of part %v, last frame %v (ms, %d parts)",
		ms(first), ms(last), len(first))
	for _, d := range last {
		if d > time.Second {
			t.Errorf("a part was downloadable %v after its last frame", d)
		}
	}
}

func ms(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	return out
}

// playWithClient reads the stream with gohlslib's own client.
func playWithClient(t *testing.T, e *env) {
	var mu sync.Mutex
	var n int
	var lastPTS int64
	var bad []string
	c := &gohlslib.Client{
		URI:                       e.url("index.m3u8"),
		OnDownloadPrimaryPlaylist: func(string) {},
		OnDownloadStreamPlaylist:  func(string) {},
		OnDownloadSegment:         func(string) {},
		OnDownloadPart:            func(string) {},
		OnDecodeError:             func(err error) { t.Logf("client decode: %v", err) },
	}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		if _, ok := tracks[0].Codec.(*codecs.H264); len(tracks) != 1 || !ok {
			t.Errorf("tracks: %+v", tracks)
			return nil
		}
		c.OnDataH26x(tracks[0], func(pts, _ int64, au [][]byte) {
			mu.Lock()
			defer mu.Unlock()
			if n > 0 && pts <= lastPTS {
				bad = append(bad, strconv.FormatInt(pts, 10))
			}
			if len(au) == 0 {
				bad = append(bad, "empty unit")
			}
			n, lastPTS = n+1, pts
		})
		return nil
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "50 access units", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return n >= 50
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("non-monotonic or empty units: %v", bad)
	}
}

var frameRe = regexp.MustCompile(`frame=\s*(\d+)`)

// playWithFFmpeg decodes 2 s of the live stream with the ffmpeg CLI.
func playWithFFmpeg(t *testing.T, e *env) {
	// ffmpeg starts 3 segments from the end and knows no EXT-X-GAP: wait
	// until the gaps have scrolled out of its reach.
	waitFor(t, "3 segments", func() bool {
		return len(realSegments(parseMedia(t, mustGet(t, e.url("video1_stream.m3u8"))))) >= 3
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-i", e.url("index.m3u8"),
		"-t", "2", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	frames := frameRe.FindAllSubmatch(out, -1)
	if len(frames) == 0 {
		t.Fatalf("ffmpeg decoded nothing:\n%s", out)
	}
	n, _ := strconv.Atoi(string(frames[len(frames)-1][1]))
	if n < 40 || strings.Contains(strings.ToLower(string(out)), "error") {
		t.Fatalf("ffmpeg decoded %d frames:\n%s", n, out)
	}
	t.Logf("ffmpeg decoded %d frames", n)
}

func TestMPEGTS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{Variant: VariantMPEGTS}, clip320)
	mv := parseMultivariant(t, mustGet(t, e.url("index.m3u8")))
	m := parseMedia(t, mustGet(t, e.url(mv.Variants[0].URI)))
	if m.PartInf != nil || m.Map != nil || len(m.Segments) == 0 || !strings.HasSuffix(m.Segments[0].URI, ".ts") {
		t.Fatalf("not an MPEG-TS playlist: %+v", m)
	}
	wantVideo(t, ffprobe(t, mustGet(t, e.url(m.Segments[0].URI))), "mpegts", 320, 240)
}

func TestFMP4(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{Variant: VariantFMP4}, clip320)
	mv := parseMultivariant(t, mustGet(t, e.url("index.m3u8")))
	m := parseMedia(t, mustGet(t, e.url(mv.Variants[0].URI)))
	if m.PartInf != nil || m.Map == nil || len(m.Segments) < 2 {
		t.Fatalf("not a plain fMP4 playlist: %+v", m)
	}
	media := append(mustGet(t, e.url(m.Map.URI)), mustGet(t, e.url(m.Segments[0].URI))...)
	wantVideo(t, ffprobe(t, media), "mp4", 320, 240)
}

// TestSizeChange switches the source to another picture size: the muxer is
// replaced and the playlist describes the new stream.
func TestSizeChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{}, clip320)
	mustGet(t, e.url("index.m3u8"))
	e.pub.switchTo(clip160)
	waitFor(t, "a 160x120 variant", func() bool {
		return parseMultivariant(t, mustGet(t, e.url("index.m3u8"))).Variants[0].Resolution == "160x120"
	})
	m := parseMedia(t, mustGet(t, e.url("video1_stream.m3u8")))
	media := append(mustGet(t, e.url(m.Map.URI)), mustGet(t, e.url(realSegments(m)[0].URI))...)
	wantVideo(t, ffprobe(t, media), "mp4", 160, 120)
}

func TestH265(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Server{}, clip265)
	mv := parseMultivariant(t, mustGet(t, e.url("index.m3u8")))
	if v := mv.Variants[0]; v.Resolution != "320x240" || len(v.Codecs) != 1 || !strings.HasPrefix(v.Codecs[0], "hvc1.") {
		t.Fatalf("variant: %+v", v)
	}
	m := parseMedia(t, mustGet(t, e.url(mv.Variants[0].URI)))
	media := append(mustGet(t, e.url(m.Map.URI)), mustGet(t, e.url(realSegments(m)[0].URI))...)
	wantCodec(t, ffprobe(t, media), "hevc", "mp4", 320, 240)
}

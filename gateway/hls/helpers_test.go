package hls

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/media"
)

// Clips made once by TestMain with the ffmpeg CLI: 25 fps, a keyframe every
// second, access unit delimiters so the units can be split.
var (
	clip320 *clip // 320x240, 4 s
	clip160 *clip // 160x120, 2 s
	clip265 *clip // H.265 320x240, 2 s
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hls-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if clip320, err = makeClip(dir, media.CodecH264, 320, 240, 4); err == nil {
		clip160, err = makeClip(dir, media.CodecH264, 160, 120, 2)
	}
	if err == nil {
		clip265, err = makeClip(dir, media.CodecH265, 320, 240, 2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "making test clips:", err)
		return 1
	}
	return m.Run()
}

// clip is an H.264 stream split into access units. The units carry no
// parameter sets (they are in info), like an encoder with global headers:
// the muxer must put them back in front of every IDR.
type clip struct {
	info *media.StreamInfo
	aus  []clipAU
}

type clipAU struct {
	nalus [][]byte
	idr   bool
}

func makeClip(dir string, codec media.Codec, w, h, secs int) (*clip, error) {
	out := filepath.Join(dir, fmt.Sprintf("%dx%d.%s", w, h, codec))
	enc := []string{"-c:v", "libx264", "-bf", "0", "-g", "25", "-x264-params", "aud=1", "-f", "h264"}
	if codec == media.CodecH265 {
		enc = []string{"-c:v", "libx265", "-x265-params",
			"log-level=error:aud=1:keyint=25:min-keyint=25:bframes=0", "-f", "hevc"}
	}
	args := append([]string{"-v", "error", "-f", "lavfi", "-i",
		fmt.Sprintf("testsrc2=size=%dx%d:rate=25", w, h), "-t", fmt.Sprint(secs)}, enc...)
	if b, err := exec.Command("ffmpeg", append(args, out)...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	c := &clip{info: &media.StreamInfo{Codec: codec, Width: w, Height: h, FPS: 25}}
	for _, n := range media.SplitAnnexB(data, nil) {
		if err := c.add(n); err != nil {
			return nil, fmt.Errorf("%s: %w", out, err)
		}
	}
	if c.info.SPS == nil || len(c.aus) != secs*25 || !c.aus[0].idr {
		return nil, fmt.Errorf("%s: unexpected stream (%d units)", out, len(c.aus))
	}
	return c, nil
}

// add files one NAL unit: a delimiter starts a unit, parameter sets go to
// info, the rest to the current unit.
func (c *clip) add(n []byte) error {
	h265 := c.info.Codec == media.CodecH265
	typ := media.NALUType(c.info.Codec, n)
	switch {
	case typ == media.H264NALAUD && !h265 || typ == media.H265NALAUD && h265:
		c.aus = append(c.aus, clipAU{nalus: [][]byte{n}})
	case typ == media.H265NALVPS && h265:
		c.info.VPS = n
	case typ == media.H264NALSPS && !h265 || typ == media.H265NALSPS && h265:
		c.info.SPS = n
	case typ == media.H264NALPPS && !h265 || typ == media.H265NALPPS && h265:
		c.info.PPS = n
	case len(c.aus) == 0:
		return fmt.Errorf("NAL unit type %d before the first delimiter", typ)
	default:
		au := &c.aus[len(c.aus)-1]
		au.nalus = append(au.nalus, n)
		au.idr = au.idr || !h265 && typ == 5 || h265 && typ >= 16 && typ <= 21
	}
	return nil
}

// unit returns the i-th unit of the clip played in a loop, PTS i*3600.
func (c *clip) unit(i int) *media.AccessUnit {
	a := c.aus[i%len(c.aus)]
	pts := int64(i) * 3600
	return &media.AccessUnit{Info: c.info, NALUs: a.nalus, PTS: pts, DTS: pts, IDR: a.idr, Received: time.Now()}
}

// publisher plays clips into a hub at 25 fps and remembers when each PTS
// was published.
type publisher struct {
	h      *hub.Hub
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	clip *clip
	n    int
	at   map[int64]time.Time
}

func startPublisher(t *testing.T, h *hub.Hub, c *clip) *publisher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &publisher{h: h, cancel: cancel, done: make(chan struct{}), clip: c, at: map[int64]time.Time{}}
	go p.run(ctx)
	t.Cleanup(p.stop)
	return p
}

func (p *publisher) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(time.Second / 25)
	defer tick.Stop()
	for {
		p.mu.Lock()
		au := p.clip.unit(p.n)
		p.n++
		p.at[au.PTS] = time.Now()
		p.mu.Unlock()
		p.h.Publish(au)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// switchTo plays c from its first unit on, keeping the timeline.
func (p *publisher) switchTo(c *clip) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clip = c
	p.n += len(c.aus) - p.n%len(c.aus) // next unit is c's first (an IDR)
}

func (p *publisher) publishedAt(pts int64) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.at[pts]
	return t, ok
}

func (p *publisher) stop() {
	p.cancel()
	<-p.done
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is a server on loopback with one published path "cam".
type env struct {
	srv *Server
	ts  *httptest.Server
	hub *hub.Hub
	pub *publisher
}

func newEnv(t *testing.T, srv *Server, c *clip) *env {
	t.Helper()
	if srv.Log == nil {
		srv.Log = testLogger(t)
	}
	e := &env{srv: srv, ts: httptest.NewServer(srv.Handler()), hub: hub.New("cam")}
	t.Cleanup(func() {
		e.srv.Close()
		e.hub.Close()
		e.ts.Close()
	})
	srv.Attach(output.Source{Name: "cam", Units: e.hub})
	if c != nil {
		e.pub = startPublisher(t, e.hub, c)
	}
	return e
}

func (e *env) url(file string) string { return e.ts.URL + "/hls/cam/" + file }

type response struct {
	code   int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string, hdr ...string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{code: res.StatusCode, header: res.Header, body: body}
}

func get(t *testing.T, url string) response {
	t.Helper()
	return do(t, http.MethodGet, url)
}

// mustGet fetches url and fails unless it answers 200.
func mustGet(t *testing.T, url string) []byte {
	t.Helper()
	r := get(t, url)
	if r.code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, r.code, r.body)
	}
	return r.body
}

func wantJSONError(t *testing.T, r response, code int) {
	t.Helper()
	var body struct{ Error string }
	if r.code != code || json.Unmarshal(r.body, &body) != nil || body.Error == "" {
		t.Fatalf("want %d with a JSON error, got %d %q", code, r.code, r.body)
	}
}

func parseMultivariant(t *testing.T, b []byte) *playlist.Multivariant {
	t.Helper()
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("playlist: %v\n%s", err, b)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok || len(mv.Variants) != 1 {
		t.Fatalf("want a multivariant playlist with one variant:\n%s", b)
	}
	return mv
}

func parseMedia(t *testing.T, b []byte) *playlist.Media {
	t.Helper()
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("playlist: %v\n%s", err, b)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		t.Fatalf("want a media playlist:\n%s", b)
	}
	return m
}

// realSegments returns the playlist's segments that are not LL-HLS gaps.
func realSegments(m *playlist.Media) []*playlist.MediaSegment {
	var out []*playlist.MediaSegment
	for _, s := range m.Segments {
		if !s.Gap {
			out = append(out, s)
		}
	}
	return out
}

type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
	} `json:"format"`
}

// ffprobe describes the media in b.
func ffprobe(t *testing.T, b []byte) probe {
	t.Helper()
	f := filepath.Join(t.TempDir(), "media")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "ffprobe", "-v", "error", "-of", "json",
		"-show_entries", "stream=codec_name,width,height:format=format_name", f).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe output: %v %s", err, out)
	}
	return p
}

func wantVideo(t *testing.T, p probe, format string, w, h int) {
	t.Helper()
	wantCodec(t, p, "h264", format, w, h)
}

func wantCodec(t *testing.T, p probe, codec, format string, w, h int) {
	t.Helper()
	s := p.Streams[0]
	if s.CodecName != codec || s.Width != w || s.Height != h || !strings.Contains(p.Format.FormatName, format) {
		t.Fatalf("want %s %dx%d in %s, got %+v", codec, w, h, format, p)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

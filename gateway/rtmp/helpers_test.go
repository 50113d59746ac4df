package rtmp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"go.uber.org/goleak"

	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

// waitTimeout bounds every wait for something the test expects.
const waitTimeout = 20 * time.Second

// signal wakes whoever waits on some state each time it changes.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

func (s *signal) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// waitFor waits until ok holds, checking again whenever sig fires.
func waitFor(t *testing.T, sig *signal, what string, ok func() bool) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		ch := sig.changed() // before the check: no change goes unseen
		if ok() {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// logEntry is one log record: its message and attributes.
type logEntry struct {
	msg   string
	err   error
	attrs map[string]string
}

// logRecorder keeps the server's log records for tests to wait on, and
// prints them to the test's output.
type logRecorder struct {
	sig     signal
	mu      sync.Mutex
	entries []logEntry
}

func (r *logRecorder) add(e logEntry) {
	r.mu.Lock()
	r.entries = append(r.entries, e)
	r.mu.Unlock()
	r.sig.notify()
}

// waitErr waits for a record whose err is target, and returns it.
func (r *logRecorder) waitErr(t *testing.T, target error) logEntry {
	t.Helper()
	var found logEntry
	waitFor(t, &r.sig, "a log record with error "+target.Error(), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.entries {
			if errors.Is(e.err, target) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// count is how many records have message msg.
func (r *logRecorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.entries {
		if e.msg == msg {
			n++
		}
	}
	return n
}

type recHandler struct {
	rec   *logRecorder
	attrs []slog.Attr
	next  slog.Handler
}

func (h *recHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recHandler) Handle(ctx context.Context, r slog.Record) error {
	e := logEntry{msg: r.Message, attrs: map[string]string{}}
	add := func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			e.err = err
		}
		e.attrs[a.Key] = a.Value.String()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.rec.add(e)
	return h.next.Handle(ctx, r)
}

func (h *recHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recHandler{rec: h.rec, attrs: append(slices.Clip(h.attrs), as...), next: h.next.WithAttrs(as)}
}

func (h *recHandler) WithGroup(name string) slog.Handler {
	return &recHandler{rec: h.rec, attrs: h.attrs, next: h.next.WithGroup(name)}
}

// newBroker builds a broker for the named publish sources.
func newBroker(users []publish.Credentials, sources map[string]publish.Policy) *publish.Broker {
	return publish.New(publish.Options{Users: users, Required: len(users) > 0, Lookup: func(name string) (publish.Policy, bool) {
		p, ok := sources[name]
		return p, ok
	}})
}

// testEnv is a running server with its broker and log.
type testEnv struct {
	srv    *Server
	broker *publish.Broker
	log    *logRecorder
}

// startServer serves b on a loopback port; at cleanup it closes the
// server and checks that no goroutine started since is left.
func startServer(t *testing.T, b *publish.Broker, mod func(*Server)) *testEnv {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	rec := &logRecorder{}
	text := slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})
	s := &Server{Addr: "127.0.0.1:0", Broker: b, Log: slog.New(&recHandler{rec: rec, next: text})}
	if mod != nil {
		mod(s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		b.Close()
		goleak.VerifyNone(t, ignore)
	})
	return &testEnv{srv: s, broker: b, log: rec}
}

// sink is a fake publish source: it awaits publishers of one name, one
// after the other, and keeps what they send.
type sink struct {
	sig    signal
	mu     sync.Mutex
	pubs   []*publish.Publisher
	video  []media.Packet
	audio  []media.Packet
	ends   []error // why each publisher's ReadPacket stopped
	cancel context.CancelFunc
	done   chan struct{}
}

func startSink(t *testing.T, b *publish.Broker, name string) *sink {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sink{cancel: cancel, done: make(chan struct{})}
	go s.run(ctx, b, name)
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

func (s *sink) run(ctx context.Context, b *publish.Broker, name string) {
	defer close(s.done)
	for {
		p, err := b.Await(ctx, name)
		if err != nil {
			return
		}
		s.update(func() { s.pubs = append(s.pubs, p) })
		for {
			pk, err := p.ReadPacket(ctx)
			if err != nil {
				s.update(func() { s.ends = append(s.ends, err) })
				break
			}
			s.update(func() {
				if pk.Audio {
					s.audio = append(s.audio, pk)
				} else {
					s.video = append(s.video, pk)
				}
			})
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (s *sink) update(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
	s.sig.notify()
}

// waitFor waits until ok holds on the sink's state (under its lock).
func (s *sink) waitFor(t *testing.T, what string, ok func(s *sink) bool) {
	t.Helper()
	waitFor(t, &s.sig, what, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return ok(s)
	})
}

// Parameter sets of test streams: a 640x360 High profile SPS written by
// makeSPS, an H.265 1280x720 SPS from mediacommon's tests. Slices are
// fake: nothing here decodes them.
var (
	testSPS     = makeSPS(40, 23, 4)
	testPPS     = []byte{0x68, 0xee, 0x3c, 0x80}
	testIDR     = []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	testSlice   = []byte{0x41, 0x9a, 0x02, 0x03}
	testH265VPS = []byte{0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0xb0, 0x00,
		0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x7b, 0x18, 0xb0, 0x24}
	testH265SPS = []byte{0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x98, 0x08, 0x00, 0x00, 0x03,
		0x00, 0x00, 0x5d, 0x90, 0x00, 0x50, 0x10, 0x05, 0xa2, 0x29, 0x4b, 0x74, 0x94, 0x98, 0x5f, 0xfe, 0x00,
		0x02, 0x00, 0x02, 0xd4, 0x04, 0x04, 0x04, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01,
		0xe0, 0x80}
	testH265PPS = []byte{0x44, 0x01, 0xc0, 0x25, 0x2f, 0x05, 0x32, 0x40}
	testH265IDR = []byte{0x26, 0x01, 0xaf, 0x06, 0xb8}
	testASC     = &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000,
		ChannelCount: 2, ChannelConfig: 2}
)

// makeSPS writes a High profile 4:2:0 H.264 SPS of mbW x mbH
// macroblocks, cropBottom (in chroma rows of 2) cut off the bottom.
func makeSPS(mbW, mbH, cropBottom uint64) []byte {
	var w bitWriter
	w.bits(100, 8) // profile_idc: High
	w.bits(0, 8)
	w.bits(40, 8)   // level 4
	w.ue(0)         // seq_parameter_set_id
	w.ue(1)         // chroma_format_idc 4:2:0
	w.ue(0)         // bit_depth_luma_minus8
	w.ue(0)         // bit_depth_chroma_minus8
	w.bits(0, 2)    // qpprime bypass, no scaling matrix
	w.ue(0)         // log2_max_frame_num_minus4
	w.ue(2)         // pic_order_cnt_type
	w.ue(1)         // max_num_ref_frames
	w.bits(0, 1)    // gaps_in_frame_num_allowed
	w.ue(mbW - 1)   // pic_width_in_mbs_minus1
	w.ue(mbH - 1)   // pic_height_in_map_units_minus1
	w.bits(0b11, 2) // frame_mbs_only, direct_8x8_inference
	w.bits(boolBit(cropBottom > 0), 1)
	if cropBottom > 0 {
		w.ue(0)
		w.ue(0)
		w.ue(0)
		w.ue(cropBottom)
	}
	w.bits(0, 1) // no VUI
	w.bits(1, 1) // rbsp_stop_one_bit
	return append([]byte{0x67}, emulationPrevent(w.buf)...)
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

type bitWriter struct {
	buf []byte
	n   int // bits written
}

func (w *bitWriter) bits(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		w.buf[len(w.buf)-1] |= byte((v>>i)&1) << (7 - w.n%8)
		w.n++
	}
}

// ue writes an unsigned Exp-Golomb number.
func (w *bitWriter) ue(v uint64) {
	l := 0
	for x := v + 1; x > 1; x >>= 1 {
		l++
	}
	w.bits(0, l)
	w.bits(v+1, l+1)
}

func emulationPrevent(b []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// client is an RTMP publisher built on gortmplib's client.
type client struct {
	c      *gortmplib.Client
	w      *gortmplib.Writer
	tracks []*gortmplib.Track
}

// dial connects to path on env's server and announces tracks.
func dial(t *testing.T, env *testEnv, path string, tracks ...*gortmplib.Track) (*client, error) {
	t.Helper()
	u, err := url.Parse("rtmp://" + env.srv.ListenAddr() + "/" + path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	c.NetConn().SetDeadline(time.Now().Add(waitTimeout)) //nolint:errcheck
	w := &gortmplib.Writer{Conn: c, Tracks: tracks}
	if err := w.Initialize(); err != nil {
		return nil, err
	}
	return &client{c: c, w: w, tracks: tracks}, nil
}

func testH264Track() *gortmplib.Track {
	return &gortmplib.Track{Codec: &codecs.H264{SPS: testSPS, PPS: testPPS}}
}

func testAACTrack() *gortmplib.Track {
	return &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: testASC}}
}

// sendH264 writes n frames at 30 fps from frame first, a keyframe every
// 30, with an audio frame after each when the client has a second track.
func (c *client) sendH264(first, n int) error {
	for i := first; i < first+n; i++ {
		ts := time.Duration(i) * time.Second / 30
		nalu := testSlice
		if i%30 == 0 {
			nalu = testIDR
		}
		if err := c.w.WriteH264(c.tracks[0], ts, ts, [][]byte{nalu}); err != nil {
			return err
		}
		if len(c.tracks) > 1 {
			if err := c.sendAudio(c.tracks[1], ts); err != nil {
				return err
			}
		}
	}
	return nil
}

// Audio frames of the test streams; only their headers are real.
var (
	testAAC  = []byte{0x21, 0x10, 0x04}
	testOpus = []byte{0xfc, 0xff, 0xfe}
	testG711 = bytes.Repeat([]byte{0xd5}, 160)
	testMP3  = append([]byte{0xff, 0xfb, 0x90, 0xc4}, make([]byte, 413)...) // 44.1 kHz mono
	testAC3  = append([]byte{0x0b, 0x77, 0x47, 0x11, 0x0c, 0x40, 0x2f, 0x84}, make([]byte, 120)...)
	testFLAC = []byte{0xff, 0xf8, 0x69, 0x08}
)

func (c *client) sendAudio(t *gortmplib.Track, ts time.Duration) error {
	switch t.Codec.(type) {
	case *codecs.MPEG4Audio:
		return c.w.WriteMPEG4Audio(t, ts, testAAC)
	case *codecs.Opus:
		return c.w.WriteOpus(t, ts, testOpus)
	case *codecs.G711:
		return c.w.WriteG711(t, ts, testG711)
	case *codecs.MPEG1Audio:
		return c.w.WriteMPEG1Audio(t, ts, testMP3)
	case *codecs.AC3:
		return c.w.WriteAC3(t, ts, testAC3)
	case *codecs.FLAC:
		return c.w.WriteFLAC(t, ts, testFLAC)
	}
	return nil
}

// publishH264 connects, and sends enough for the server to announce.
func publishH264(t *testing.T, env *testEnv, path string, tracks ...*gortmplib.Track) (*client, error) {
	t.Helper()
	if len(tracks) == 0 {
		tracks = []*gortmplib.Track{testH264Track()}
	}
	c, err := dial(t, env, path, tracks...)
	if err != nil {
		return nil, err
	}
	return c, c.sendH264(0, 90) // three seconds: past gortmplib's analysis
}

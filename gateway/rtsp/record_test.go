package rtsp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	push "github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

// pushServer starts a server whose broker has the publish sources of
// sources; opts and mod may change the broker's and the server's settings.
func pushServer(t *testing.T, sources map[string]push.Policy, opts func(*push.Options), mod func(*Server)) (*Server, *push.Broker) {
	t.Helper()
	o := push.Options{Lookup: func(name string) (push.Policy, bool) {
		pol, ok := sources[name]
		return pol, ok
	}}
	if opts != nil {
		opts(&o)
	}
	b := push.New(o)
	t.Cleanup(b.Close)
	return startServer(t, func(s *Server) {
		s.Publish = b
		if mod != nil {
			mod(s)
		}
	}), b
}

// cam is the one publish source most tests need.
var cam = map[string]push.Policy{"cam": {}}

// sink is a fake publish source: it awaits one publisher of its name and
// reads its packets until the publisher ends.
type sink struct {
	mu           sync.Mutex
	pub          *push.Publisher
	video, audio []media.Packet
	err          error         // what ReadPacket ended with
	done         chan struct{} // closed once it has
}

func newSink(t *testing.T, b *push.Broker, name string) *sink {
	k := &sink{done: make(chan struct{})}
	ctx := t.Context()
	go func() {
		defer close(k.done)
		pub, err := b.Await(ctx, name)
		k.mu.Lock()
		k.pub, k.err = pub, err
		k.mu.Unlock()
		for err == nil {
			var pk media.Packet
			pk, err = pub.ReadPacket(ctx)
			k.mu.Lock()
			if err != nil {
				k.err = err
			} else if pk.Audio {
				k.audio = append(k.audio, pk)
			} else {
				k.video = append(k.video, pk)
			}
			k.mu.Unlock()
		}
	}()
	return k
}

func (k *sink) counts() (video, audio int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.video), len(k.audio)
}

func (k *sink) publisher() *push.Publisher {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pub
}

// ended waits for the sink's publisher to end and returns ReadPacket's
// last error.
func (k *sink) ended(t *testing.T) error {
	t.Helper()
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the publisher did not end")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// x264 encodes the test picture as a camera would, a keyframe a second.
var x264 = []string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30"}

// ffmpegArgs publishes a test picture of size and a sine to url for at
// most 20 s; enc are the encoders' arguments.
func ffmpegArgs(url, transport, size string, enc ...string) []string {
	args := []string{"-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", "20"}
	args = append(args, enc...)
	return append(args, "-f", "rtsp", "-rtsp_transport", transport, url)
}

// startFFmpeg runs ffmpeg until the test ends or stop is called.
func startFFmpeg(t *testing.T, args []string) (stop func() error) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg CLI not found: make setup installs it")
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(t.Context(), "ffmpeg", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	var err error
	// An interrupted ffmpeg says TEARDOWN, as a publisher leaving does: a
	// killed one over UDP would end only at the server's read timeout.
	stop = func() error {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case err = <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				err = <-exited
			}
			if out.Len() > 0 {
				t.Logf("ffmpeg: %s", out.String())
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// runFFmpeg runs ffmpeg to its end and returns its error and output.
func runFFmpeg(t *testing.T, args []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput()
	return string(out), err
}

func rtspURL(s *Server, userinfo, name string) string {
	return "rtsp://" + userinfo + s.ListenAddr() + "/" + name
}

func TestRecordFFmpeg(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			s, b := pushServer(t, cam, nil, nil)
			k := newSink(t, b, "cam")
			stop := startFFmpeg(t, ffmpegArgs(rtspURL(s, "", "cam"), transport, "640x360",
				append(x264, "-c:a", "aac")...))
			waitFor(t, "30 video and 10 audio packets", func() bool {
				v, a := k.counts()
				return v >= 30 && a >= 10
			})
			if n := s.Readers("cam"); n != 0 {
				t.Errorf("the publisher counts as %d readers", n)
			}
			info := k.publisher().Info()
			checkH264Track(t, info.Video, 640, 360)
			if a := info.Audio; a == nil || a.Codec != media.CodecAAC || len(a.Config) == 0 ||
				a.ClockRate != a.SampleRate || a.Channels != 1 {
				t.Errorf("audio track %+v, want AAC with its config", a)
			}
			_ = stop()
			if err := k.ended(t); !errors.Is(err, io.EOF) {
				t.Errorf("the source read %v after the publisher left, want io.EOF", err)
			}
			checkVideo(t, k.video)
			checkMonotonic(t, "audio PTS", k.audio, func(p media.Packet) int64 { return p.PTS })
		})
	}
}

func checkH264Track(t *testing.T, v *media.Track, w, h int) {
	t.Helper()
	if v == nil || v.Codec != media.CodecH264 || v.ClockRate != 90000 || v.Width != w || v.Height != h {
		t.Fatalf("video track %+v, want h264 %dx%d at 90 kHz", v, w, h)
	}
	nalus := media.SplitAnnexB(v.Config, nil)
	if len(nalus) != 2 || h264.NALUType(nalus[0][0]&0x1f) != h264.NALUTypeSPS {
		t.Errorf("video config %x is not SPS and PPS in Annex B", v.Config)
	}
}

// checkVideo wants keyframes that start with the SPS, and a DTS that
// grows.
func checkVideo(t *testing.T, pkts []media.Packet) {
	t.Helper()
	keys := 0
	for i, p := range pkts {
		if !p.Key {
			continue
		}
		keys++
		nalus := media.SplitAnnexB(p.Data, nil)
		if len(nalus) == 0 || h264.NALUType(nalus[0][0]&0x1f) != h264.NALUTypeSPS || !h264.IsRandomAccess(nalus) {
			t.Errorf("keyframe %d does not start with the SPS: %d NALUs", i, len(nalus))
		}
	}
	if keys == 0 || !pkts[0].Key {
		t.Errorf("%d keyframes, the first packet key: %v", keys, len(pkts) > 0 && pkts[0].Key)
	}
	checkMonotonic(t, "video DTS", pkts, func(p media.Packet) int64 { return p.DTS })
}

func checkMonotonic(t *testing.T, what string, pkts []media.Packet, ts func(media.Packet) int64) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		if ts(pkts[i]) <= ts(pkts[i-1]) {
			t.Errorf("%s not monotonic at %d: %d after %d", what, i, ts(pkts[i]), ts(pkts[i-1]))
			return
		}
	}
}

// Every codec visiongate takes arrives as its track says, over TCP
// (ffmpeg cannot send AC-3 over RTP: TestRecordAC3 covers it).
func TestRecordCodecs(t *testing.T) {
	x265 := []string{"-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
		"-x265-params", "log-level=error"}
	cases := []struct {
		name       string
		enc        []string
		video      media.Codec
		audio      media.Codec
		clock      int // the audio track's
		sampleRate int
	}{
		{"pcm_mulaw", append(x264, "-c:a", "pcm_mulaw", "-ar", "8000"), media.CodecH264, media.CodecPCMU, 8000, 8000},
		{"pcm_alaw", append(x264, "-c:a", "pcm_alaw", "-ar", "8000"), media.CodecH264, media.CodecPCMA, 8000, 8000},
		{"opus", append(x264, "-c:a", "libopus"), media.CodecH264, media.CodecOpus, 48000, 48000},
		{"mp3", append(x264, "-c:a", "libmp3lame"), media.CodecH264, media.CodecMP3, 90000, 0},
		{"h265", append(x265, "-an"), media.CodecH265, "", 0, 0},
	}
	s, b := pushServer(t, cam, nil, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := newSink(t, b, "cam")
			stop := startFFmpeg(t, ffmpegArgs(rtspURL(s, "", "cam"), "tcp", "160x120", c.enc...))
			waitFor(t, "packets", func() bool {
				v, a := k.counts()
				return v >= 10 && (a >= 5 || c.audio == "")
			})
			info := k.publisher().Info()
			if v := info.Video; v.Codec != c.video || v.Width != 160 || v.Height != 120 || len(v.Config) == 0 {
				t.Errorf("video track %+v", v)
			}
			if a := info.Audio; c.audio != "" && (a == nil || a.Codec != c.audio || a.ClockRate != c.clock ||
				a.SampleRate != c.sampleRate) {
				t.Errorf("audio track %+v, want %s at %d Hz", a, c.audio, c.clock)
			}
			_ = stop()
			k.ended(t)
			checkMonotonic(t, "video DTS", k.video, func(p media.Packet) int64 { return p.DTS })
			checkMonotonic(t, "audio PTS", k.audio, func(p media.Packet) int64 { return p.PTS })
			if c.video == media.CodecH265 {
				first := media.SplitAnnexB(k.video[0].Data, nil)
				if !k.video[0].Key || media.NALUType(media.CodecH265, first[0]) != media.H265NALVPS {
					t.Errorf("the first H.265 unit does not start with the VPS")
				}
			}
		})
	}
}

// The publisher's credentials are the broker's, not the readers'; Digest
// (which ffmpeg picks) and Basic both work, and only wrong ones count as
// failed logins.
func TestRecordCredentials(t *testing.T) {
	th := &fakeThrottle{max: 100, fails: map[netip.Addr]int{}}
	s, b := pushServer(t, cam, func(o *push.Options) {
		o.Users, o.Required = []push.Credentials{{User: "pub", Pass: "s3cret"}}, true
	}, func(s *Server) {
		s.Accounts = []Account{{User: "viewer", Pass: "look"}}
		s.Throttle = th
	})
	for _, userinfo := range []string{"", "pub:wrong@", "viewer:look@"} {
		out, err := runFFmpeg(t, ffmpegArgs(rtspURL(s, userinfo, "cam"), "tcp", "160x120", x264...))
		if err == nil || !strings.Contains(out, "401") {
			t.Errorf("publishing as %q: %v, want refused with 401:\n%s", userinfo, err, out)
		}
	}
	if n := th.count("127.0.0.1"); n != 2 {
		t.Errorf("%d failed logins counted, want 2", n)
	}
	if _, ok := b.Current("cam"); ok {
		t.Fatal("a refused publisher was connected")
	}
	k := newSink(t, b, "cam")
	stop := startFFmpeg(t, ffmpegArgs(rtspURL(s, "pub:s3cret@", "cam"), "tcp", "160x120", x264...))
	waitFor(t, "video", func() bool { v, _ := k.counts(); return v >= 5 })
	_ = stop()

	if got := rawAnnounce(t, s.ListenAddr(), "cam", h264SDP(testSPS), "pub", "s3cret"); !strings.HasPrefix(got, "RTSP/1.0 200") {
		t.Errorf("ANNOUNCE with Basic credentials: %q", got)
	}
	if got := rawAnnounce(t, s.ListenAddr(), "cam", h264SDP(testSPS), "pub", "nope"); !strings.HasPrefix(got, "RTSP/1.0 401") {
		t.Errorf("ANNOUNCE with wrong Basic credentials: %q", got)
	}
}

// Unknown and invalid names are refused with 404, and ffmpeg shows why.
func TestRecordUnknownSource(t *testing.T) {
	s, b := pushServer(t, cam, nil, nil)
	for name, why := range map[string]string{"nope": "no publish source", "a/b": "not a valid source name"} {
		out, err := runFFmpeg(t, ffmpegArgs(rtspURL(s, "", name), "tcp", "160x120", x264...))
		if err == nil || !strings.Contains(out, "404 Not Found (") || !strings.Contains(out, why) {
			t.Errorf("publishing to %q: %v, want refused with 404:\n%s", name, err, out)
		}
		if _, ok := b.Current(name); ok {
			t.Errorf("a publisher of %q is connected", name)
		}
	}
}

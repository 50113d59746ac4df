package rtspin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/internal/testnet"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/media/rtpin"
	"github.com/visiongate/visiongate/transcode"
)

func open(t *testing.T, o Options) (*Client, error) {
	t.Helper()
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 5 * time.Second
	}
	c, err := Open(t.Context(), o)
	if err == nil {
		t.Cleanup(c.Close)
	}
	return c, err
}

func mustOpen(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := open(t, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c
}

// readVideo reads n video packets, checking that the first is a keyframe
// with its parameter sets and that timestamps go forward.
func readVideo(t *testing.T, c *Client, n int) (audio int) {
	t.Helper()
	var last int64 = -1
	for got := 0; got < n; {
		p, err := c.ReadPacket(t.Context())
		if err != nil {
			t.Fatalf("ReadPacket after %d: %v", got, err)
		}
		if p.Audio {
			audio++
			continue
		}
		if got == 0 && (!p.Key || rtpin.FindSPS(media.CodecH264, p.Data) == nil) {
			t.Fatalf("first video packet: key %v, %d bytes, no SPS in front", p.Key, len(p.Data))
		}
		if p.DTS <= last || p.PTS < p.DTS {
			t.Fatalf("packet %d: DTS %d after %d, PTS %d", got, p.DTS, last, p.PTS)
		}
		last = p.DTS
		got++
	}
	return audio
}

func checkVideo(t *testing.T, c *Client, w, h int) {
	t.Helper()
	v := c.Video()
	if v.Codec != media.CodecH264 || v.Width != w || v.Height != h || v.ClockRate != 90000 ||
		rtpin.FindSPS(media.CodecH264, v.Config) == nil {
		t.Fatalf("video %+v, want H.264 %dx%d at 90 kHz with its SPS", v, w, h)
	}
}

// A real camera plays over each transport; Close says goodbye (TEARDOWN),
// so the camera frees its session at once.
func TestPlays(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	for _, tr := range []string{"tcp", "udp", "auto"} {
		t.Run(tr, func(t *testing.T) {
			c := mustOpen(t, Options{URL: cam.URL, Transport: tr})
			checkVideo(t, c, 320, 240)
			if c.Audio() != nil || c.FPS() != 25 {
				t.Errorf("audio %+v, fps %v; want none and 25", c.Audio(), c.FPS())
			}
			readVideo(t, c, 30)
			c.Close()
			waitSessions(t, cam.Sessions, 0)
		})
	}
}

func waitSessions(t *testing.T, sessions func() int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for sessions() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions on the camera, want %d", sessions(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The first audio track comes along when asked for.
func TestAudio(t *testing.T) {
	for _, codec := range []string{"pcmu", "aac"} {
		t.Run(codec, func(t *testing.T) {
			cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25, Audio: codec})
			c := mustOpen(t, Options{URL: cam.URL, Transport: "tcp", Audio: true})
			a := c.Audio()
			want := map[string]media.Codec{"pcmu": media.CodecPCMU, "aac": media.CodecAAC}[codec]
			if a == nil || a.Codec != want || a.SampleRate == 0 || a.Channels == 0 {
				t.Fatalf("audio %+v, want %s", a, want)
			}
			if n := readVideo(t, c, 25); n == 0 {
				t.Fatal("no audio packet beside 25 frames")
			}
			off := mustOpen(t, Options{URL: cam.URL, Transport: "tcp"})
			if off.Audio() != nil {
				t.Fatalf("audio %+v not asked for", off.Audio())
			}
		})
	}
}

// Credentials in the URL answer Basic and Digest; wrong ones fail with
// the camera's 401, without the password in the error.
func TestCredentials(t *testing.T) {
	for name, m := range map[string]auth.VerifyMethod{"basic": auth.VerifyMethodBasic, "digest": auth.VerifyMethodDigestMD5} {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, serverOpts{user: "admin", pass: "s3cret!", methods: []auth.VerifyMethod{m}})
			u := strings.Replace(s.url, "rtsp://", "rtsp://admin:s3cret%21@", 1)
			readVideo(t, mustOpen(t, Options{URL: u, Transport: "tcp"}), 5)
			_, err := open(t, Options{URL: strings.Replace(s.url, "rtsp://", "rtsp://admin:wrong-pw@", 1)})
			if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-pw") {
				t.Fatalf("wrong password: %v; want a 401 without the password", err)
			}
		})
	}
}

// rtsps verifies the camera's certificate against the system's CAs by
// default, against ca_file when given, and not at all with tls_verify off.
func TestRTSPS(t *testing.T) {
	pki := newTestPKI(t)
	s := startServer(t, serverOpts{tls: &tls.Config{Certificates: []tls.Certificate{pki.server}}})
	u := strings.Replace(s.url, "rtsps://", "rtsps://user:pw-123@", 1)
	_, err := open(t, Options{URL: u})
	if !errors.Is(err, transcode.ErrTLSVerify) || !strings.Contains(err.Error(), "certificate verify failed") ||
		strings.Contains(err.Error(), "pw-123") {
		t.Fatalf("err = %v, want ErrTLSVerify saying certificate verify failed", err)
	}
	for _, o := range []TLSOptions{{CAFile: pki.caFile}, {SkipVerify: true}} {
		c := mustOpen(t, Options{URL: u, TLS: o, Transport: "udp"}) // rtsps runs over TCP whatever asked
		checkVideo(t, c, 320, 240)
		readVideo(t, c, 5)
	}
}

// denyLoopback is an egress policy that refuses loopback addresses.
func denyLoopback(ctx context.Context, host string) ([]netip.Addr, error) {
	return transcode.CheckEgress(ctx, policy(func(a netip.Addr) bool { return !a.IsLoopback() }), host)
}

type policy func(netip.Addr) bool

func (p policy) CheckHost(host string, addrs []netip.Addr) error {
	for _, a := range addrs {
		if !p(a.Unmap()) {
			return fmt.Errorf("%s resolves to %s, a denied network", host, a)
		}
	}
	return nil
}

// A refused host is never connected to, by name or by address; an
// allowed one is connected to at a checked address.
func TestEgress(t *testing.T) {
	port, accepted := testnet.CountingListener(t)
	for _, host := range []string{"localhost", "127.0.0.1"} {
		_, err := open(t, Options{URL: "rtsp://" + net.JoinHostPort(host, port) + "/cam", Egress: denyLoopback})
		if !errors.Is(err, transcode.ErrEgressDenied) || !strings.Contains(err.Error(), "denied network") {
			t.Fatalf("%s: err = %v, want ErrEgressDenied", host, err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connections to a refused host", n)
	}
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	var mu sync.Mutex
	var asked []string
	allow := func(ctx context.Context, host string) ([]netip.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, host)
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	_, camPort, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(cam.URL, "/cam"), "rtsp://"))
	c := mustOpen(t, Options{URL: "rtsp://camera.invalid:" + camPort + "/cam", Transport: "udp", Egress: allow})
	readVideo(t, c, 5)
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 || asked[0] != "camera.invalid" {
		t.Fatalf("policy asked about %v", asked)
	}
}

// UDP goes only to addresses the policy passed: a camera may name
// another source address in its SETUP answer.
func TestEgressGuardsUDP(t *testing.T) {
	d, err := newDialer(Options{Egress: denyLoopback})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := d.listenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_, err = pc.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9})
	if !errors.Is(err, transcode.ErrEgressDenied) {
		t.Fatalf("UDP to a refused address: %v", err)
	}
}

// A camera that goes silent fails the read with transcode.ErrTimeout
// after the read timeout.
func TestReadTimeout(t *testing.T) {
	s := startServer(t, serverOpts{frames: 10})
	c := mustOpen(t, Options{URL: s.url, Transport: "tcp", ReadTimeout: 500 * time.Millisecond})
	var err error
	for err == nil {
		_, err = c.ReadPacket(t.Context())
	}
	if !errors.Is(err, transcode.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

// Without parameter sets in the SDP, the size comes from the first
// keyframe's, which the reader gets first. (auto falls back to TCP when
// the camera refuses UDP.)
func TestInBandParameters(t *testing.T) {
	s := startServer(t, serverOpts{inBandOnly: true})
	c := mustOpen(t, Options{URL: s.url})
	if len(c.pending) != 1 {
		t.Fatalf("%d packets read at Open, want the first keyframe", len(c.pending))
	}
	checkVideo(t, c, 320, 240)
	readVideo(t, c, 10)
}

// hugeSPS claims 16384x16384 pixels (internal/testcam's hostile camera's).
var hugeSPS = []byte{0x67, 0x42, 0xc0, 0x33, 0xda, 0x00, 0x10, 0x00, 0x00, 0x80, 0x19}

// A picture over 8192 either way is refused, announced or in band.
func TestTooLarge(t *testing.T) {
	hostile := testcam.StartHostile(t, testcam.HostileOptions{Mode: testcam.HostileHugeSize})
	inBand := startServer(t, serverOpts{inBandOnly: true, sps: hugeSPS})
	for _, u := range []string{hostile.URL, inBand.url} {
		_, err := open(t, Options{URL: u, Transport: "tcp"})
		var se *transcode.SizeError
		if !errors.Is(err, transcode.ErrTooLarge) || !errors.As(err, &se) || se.Width != 16384 {
			t.Fatalf("err = %v, want a SizeError for 16384x16384", err)
		}
	}
}

// A stream without H.264/H.265 video is left to libav.
func TestUnsupported(t *testing.T) {
	s := startServer(t, serverOpts{medias: []*description.Media{{Type: description.MediaTypeVideo,
		Formats: []format.Format{&format.MJPEG{}}}}})
	_, err := open(t, Options{URL: s.url, Transport: "tcp"})
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, rtpin.ErrNoVideo) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if _, err := Open(t.Context(), Options{URL: "http://x/y"}); !errors.Is(err, ErrURL) {
		t.Fatalf("http URL: %v", err)
	}
}

// A camera that never answers fails Open with ErrTimeout within the
// connect timeout; a cancelled ctx with ErrInterrupted.
func TestOpenBounded(t *testing.T) {
	u := deadCamera(t, true)
	start := time.Now()
	_, err := open(t, Options{URL: u, Transport: "tcp", ConnectTimeout: 500 * time.Millisecond})
	if !errors.Is(err, transcode.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v, want ErrTimeout after 500ms", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = Open(ctx, Options{URL: u, Transport: "tcp", ConnectTimeout: 10 * time.Second})
	if !errors.Is(err, transcode.ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
}

// A camera that froze after PLAY times the read out, and Close returns
// at once all the same.
func TestCloseDeadCamera(t *testing.T) {
	c := mustOpen(t, Options{URL: deadCamera(t, false), Transport: "tcp", ReadTimeout: 300 * time.Millisecond})
	if _, err := c.ReadPacket(t.Context()); !errors.Is(err, transcode.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// Without timing in the SPS, the first two frames tell the frame rate.
func TestFrameRate(t *testing.T) {
	for _, c := range []struct {
		a, b int64
		want float64
	}{{0, 3600, 25}, {0, 3003, 90000.0 / 3003}, {100, 100, 0}, {0, 900000, 0}, {3600, 0, 0}} {
		if got := frameRate(media.Packet{DTS: c.a}, media.Packet{DTS: c.b}, 90000); got != c.want {
			t.Errorf("DTS %d, %d: %v fps, want %v", c.a, c.b, got, c.want)
		}
	}
}

package testcam

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
)

// Hostile camera behaviours: what a malicious or broken RTSP camera sends.
const (
	HostileSDPGarbage     = "sdp-garbage"     // DESCRIBE answers random bytes as SDP
	HostileBadParams      = "bad-params"      // sprop-parameter-sets are random bytes
	HostileHugeSize       = "huge-size"       // parameter sets claim a 16384x16384 picture
	HostileRTPGarbage     = "rtp-garbage"     // valid SDP, then random RTP payloads
	HostileTimeWarp       = "time-warp"       // real frames with timestamps jumping back and forth
	HostileTruncated      = "truncated"       // real frames cut short and FU-A fragments lost
	HostileInterleaveJunk = "interleave-junk" // random bytes between interleaved frames
)

// HostileModes lists every behaviour.
var HostileModes = []string{HostileSDPGarbage, HostileBadParams, HostileHugeSize, HostileRTPGarbage,
	HostileTimeWarp, HostileTruncated, HostileInterleaveJunk}

// HostileOptions pick the misbehaviour; the seed makes a run repeatable.
type HostileOptions struct {
	Mode     string
	Seed     uint64
	Interval time.Duration // between frames; default 40 ms (25 fps)
}

// Hostile is an RTSP camera (TCP interleaved only) that misbehaves in one
// way.
type Hostile struct {
	URL string
	HostileOptions
	aus  [][][]byte
	ln   net.Listener
	wg   sync.WaitGroup
	stop chan struct{}
}

// StartHostile serves one hostile behaviour on loopback until the test ends.
func StartHostile(t testing.TB, o HostileOptions) *Hostile {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Interval <= 0 {
		o.Interval = 40 * time.Millisecond
	}
	h := &Hostile{URL: "rtsp://" + ln.Addr().String() + "/cam", HostileOptions: o, ln: ln,
		stop: make(chan struct{}), aus: hostileClip(t)}
	h.wg.Add(1)
	go h.accept()
	t.Cleanup(func() {
		close(h.stop)
		ln.Close()
		h.wg.Wait()
	})
	return h
}

func (h *Hostile) accept() {
	defer h.wg.Done()
	for n := uint64(0); ; n++ {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer c.Close()
			go func() { <-h.stop; c.Close() }()
			h.session(c, rand.New(rand.NewPCG(h.Seed, n)))
		}()
	}
}

// session answers requests until PLAY, then streams.
func (h *Hostile) session(c net.Conn, rng *rand.Rand) {
	r := textproto.NewReader(bufio.NewReader(c))
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		hdr, err := r.ReadMIMEHeader()
		if err != nil {
			return
		}
		method, _, _ := strings.Cut(line, " ")
		if !h.answer(c, method, hdr.Get("Cseq"), rng) {
			return
		}
		if method == "PLAY" {
			h.stream(c, rng)
			return
		}
	}
}

func (h *Hostile) answer(c net.Conn, method, cseq string, rng *rand.Rand) bool {
	extra, body := "", ""
	switch method {
	case "OPTIONS":
		extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
	case "DESCRIBE":
		body = h.sdp(rng)
		extra = fmt.Sprintf("Content-Type: application/sdp\r\nContent-Base: %s/\r\nContent-Length: %d\r\n", h.URL, len(body))
	case "SETUP":
		extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678;timeout=60\r\n"
	case "PLAY", "TEARDOWN", "GET_PARAMETER":
		extra = "Session: 12345678\r\n"
	default:
		return false
	}
	_, err := fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\n%s\r\n%s", cseq, extra, body)
	return err == nil
}

func (h *Hostile) sdp(rng *rand.Rand) string {
	sps, pps := h.aus[0][0], h.aus[0][1]
	switch h.Mode {
	case HostileSDPGarbage:
		return string(randomBytes(rng, 50+rng.IntN(400)))
	case HostileBadParams:
		sps, pps = randomBytes(rng, 1+rng.IntN(40)), randomBytes(rng, 1+rng.IntN(10))
	case HostileHugeSize:
		sps = hugeSPS
	}
	b64 := base64.StdEncoding.EncodeToString
	return "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=hostile\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=control:trackID=0\r\na=rtpmap:96 H264/90000\r\n" +
		"a=fmtp:96 packetization-mode=1;sprop-parameter-sets=" + b64(sps) + "," + b64(pps) + "\r\n"
}

// hugeSPS is an SPS (baseline, level 5.1, 1024x1024 macroblocks) claiming
// 16384x16384 pixels.
var hugeSPS = []byte{0x67, 0x42, 0xc0, 0x33, 0xda, 0x00, 0x10, 0x00, 0x00, 0x80, 0x19}

// stream sends 25 frames a second, shaped by the mode, until the
// connection ends.
func (h *Hostile) stream(c net.Conn, rng *rand.Rand) {
	enc, err := (&format.H264{PayloadTyp: 96, PacketizationMode: 1}).CreateEncoder()
	if err != nil {
		return
	}
	tick := time.NewTicker(h.Interval)
	defer tick.Stop()
	ts := rng.Uint32()
	for i := 0; ; i++ {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		ts += h.step(rng)
		if h.frame(c, enc, h.aus[i%len(h.aus)], ts, rng) != nil {
			return
		}
	}
}

func (h *Hostile) step(rng *rand.Rand) uint32 {
	if h.Mode == HostileTimeWarp {
		return rng.Uint32() // anywhere, backwards included (modulo 2^32)
	}
	return 3600
}

// frame writes one access unit as interleaved RTP (channel 0), spoiled
// the way the mode says.
func (h *Hostile) frame(c net.Conn, enc *rtph264.Encoder, au [][]byte, ts uint32, rng *rand.Rand) error {
	pkts, err := enc.Encode(au)
	if err != nil {
		return nil
	}
	var out []byte
	for _, p := range pkts {
		p.Timestamp = ts
		switch h.Mode {
		case HostileRTPGarbage:
			p.Payload = randomBytes(rng, 1+rng.IntN(1400))
		case HostileTruncated:
			if rng.IntN(4) == 0 {
				continue // a lost fragment
			}
			p.Payload = p.Payload[:1+rng.IntN(len(p.Payload))]
		}
		b, err := p.Marshal()
		if err != nil {
			continue
		}
		out = append(out, '$', 0, byte(len(b)>>8), byte(len(b)))
		out = append(out, b...)
		if h.Mode == HostileInterleaveJunk && rng.IntN(8) == 0 {
			out = append(out, randomBytes(rng, 1+rng.IntN(64))...)
		}
	}
	_, err = c.Write(out)
	return err
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

var clipOnce struct {
	sync.Once
	aus [][][]byte
}

// hostileClip encodes the real frames hostile cameras start from, once
// per test binary (fuzzing starts many cameras).
func hostileClip(t testing.TB) [][][]byte {
	clipOnce.Do(func() { clipOnce.aus = encodeClip(t, Options{Width: 320, Height: 240, FPS: 25}) })
	if clipOnce.aus == nil {
		t.Fatal("no clip for the hostile camera")
	}
	return clipOnce.aus
}

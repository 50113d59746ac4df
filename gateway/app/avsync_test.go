package app

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/media"
)

// Issue 10 item 1: a G.711 camera that flashes and beeps in step plays
// through the gateway (video re-encoded, sound passed through) with the
// beep within 40 ms of the flash, and still so after the camera
// reconnects.
func TestAudioVideoSyncThroughReconnect(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25, Audio: "pcmu", Beep: true})
	g := startGateway(t, fmt.Sprintf("reconnect: {min: 200ms, max: 500ms}\nsources:\n"+
		"  - name: av\n    url: %s\n    transport: tcp\n", cam.URL))
	g.waitRunning("av", 10*time.Second)
	checkSync(t, "before a reconnect", g.rtspURL("av"))

	cam.Close()
	g.waitState("av", "retrying", 5*time.Second)
	cam.Restart(t)
	before := g.status("av").FramesIn
	g.waitFramesAfter("av", before+25, 10*time.Second)
	checkSync(t, "after a reconnect", g.rtspURL("av"))
}

// checkSync reads 3.5 s of url and compares every flash with the beep
// nearest to it.
func checkSync(t *testing.T, when, url string) {
	t.Helper()
	r, err := readAV(url, 3500*time.Millisecond)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	flashes, beeps := r.flashes(t), r.beeps()
	if len(flashes) < 2 || len(beeps) < 2 {
		t.Fatalf("%s: %d flashes and %d beeps in 3.5 s, want a few of each", when, len(flashes), len(beeps))
	}
	var offsets []time.Duration
	for _, f := range flashes {
		nearest := slices.MinFunc(beeps, func(a, b time.Duration) int { return cmpAbs(a-f, b-f) })
		offsets = append(offsets, (nearest - f).Round(time.Millisecond))
	}
	t.Logf("%s: beep minus flash: %v", when, offsets)
	for _, o := range offsets {
		if o > 40*time.Millisecond || o < -40*time.Millisecond {
			t.Errorf("%s: A/V offset %v, want within 40 ms (all: %v)", when, o, offsets)
		}
	}
}

func cmpAbs(a, b time.Duration) int {
	return int(max(a, -a)/time.Microsecond) - int(max(b, -b)/time.Microsecond)
}

// avReading is what a gortsplib reader got: H.264 units and µ-law sound,
// each placed in time by the PLAY response's RTP-Info.
type avReading struct {
	mu     sync.Mutex
	video  []timedAU
	audio  []timedAU // one entry per packet: its samples in NALUs[0]
	format *format.H264
}

type timedAU struct {
	rtp   uint32
	pts   time.Duration
	nalus [][]byte
}

func readAV(url string, d time.Duration) (*avReading, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	proto := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}
	if err := c.Start(); err != nil {
		return nil, err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, err
	}
	r := &avReading{}
	var g711 *format.G711
	vm, am := desc.FindFormat(&r.format), desc.FindFormat(&g711)
	if vm == nil || am == nil || !g711.MULaw {
		return nil, fmt.Errorf("want H.264 and µ-law tracks, got %v", desc.Medias)
	}
	dec, err := r.format.CreateDecoder()
	if err != nil {
		return nil, err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return nil, err
	}
	c.OnPacketRTP(vm, r.format, func(pkt *rtp.Packet) {
		if au, err := dec.Decode(pkt); err == nil {
			r.mu.Lock()
			r.video = append(r.video, timedAU{rtp: pkt.Timestamp, nalus: au})
			r.mu.Unlock()
		}
	})
	c.OnPacketRTP(am, g711, func(pkt *rtp.Packet) {
		r.mu.Lock()
		r.audio = append(r.audio, timedAU{rtp: pkt.Timestamp, nalus: [][]byte{slices.Clone(pkt.Payload)}})
		r.mu.Unlock()
	})
	res, err := c.Play(nil)
	if err != nil {
		return nil, err
	}
	var info headers.RTPInfo
	if err := info.Unmarshal(res.Header["RTP-Info"]); err != nil || len(info) != 2 ||
		info[0].Timestamp == nil || info[1].Timestamp == nil {
		return nil, fmt.Errorf("PLAY without an RTP-Info for both tracks: %v", res.Header["RTP-Info"])
	}
	time.Sleep(d) // the reading window itself
	c.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	// RTP-Info gives each track's RTP time at one instant: the players'
	// way to line the tracks up before the first sender report.
	r.place(r.video, *info[0].Timestamp, media.ClockRate)
	r.place(r.audio, *info[1].Timestamp, int64(g711.ClockRate()))
	return r, nil
}

// place converts RTP times to durations since the PLAY instant.
func (r *avReading) place(aus []timedAU, start uint32, rate int64) {
	for i := range aus {
		aus[i].pts = time.Duration(int32(aus[i].rtp-start)) * time.Second / time.Duration(rate)
	}
}

// flashes decodes the video and returns when white frames begin.
func (r *avReading) flashes(t *testing.T) []time.Duration {
	t.Helper()
	codec := astiav.FindDecoder(astiav.CodecIDH264)
	cc := astiav.AllocCodecContext(codec)
	defer cc.Free()
	if err := cc.Open(codec, nil); err != nil {
		t.Fatal(err)
	}
	pkt, frame := astiav.AllocPacket(), astiav.AllocFrame()
	defer pkt.Free()
	defer frame.Free()
	var out []time.Duration
	white := false
	for _, au := range r.video {
		au.nalus = append([][]byte{r.format.SPS, r.format.PPS}, au.nalus...)
		if err := pkt.FromData(annexB(au.nalus)); err != nil {
			t.Fatal(err)
		}
		pkt.SetPts(int64(au.pts / time.Microsecond))
		if err := cc.SendPacket(pkt); err != nil {
			continue
		}
		for cc.ReceiveFrame(frame) == nil {
			now := lumaMean(frame) > 200
			if now && !white {
				out = append(out, time.Duration(frame.Pts())*time.Microsecond)
			}
			white = now
			frame.Unref()
		}
	}
	return out
}

func lumaMean(f *astiav.Frame) float64 {
	b, err := f.Data().Bytes(1)
	n := f.Width() * f.Height()
	if err != nil || len(b) < n || n == 0 {
		return 0
	}
	sum := 0
	for _, v := range b[:n] {
		sum += int(v)
	}
	return float64(sum) / float64(n)
}

// beeps returns when the sound starts after at least half a second of
// silence.
func (r *avReading) beeps() []time.Duration {
	var out []time.Duration
	quiet := time.Duration(0)
	var lastLoud time.Duration = -time.Hour
	for _, p := range r.audio {
		for i, b := range p.nalus[0] {
			at := p.pts + time.Duration(i)*time.Second/8000
			if math.Abs(testcam.MuLawDecode(b)) < 0.2 {
				continue
			}
			quiet = at - lastLoud
			if quiet > 500*time.Millisecond {
				out = append(out, at)
			}
			lastLoud = at
		}
	}
	return out
}

// annexB joins NALUs with start codes, as libav's H.264 decoder reads them.
func annexB(nalus [][]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

// While the camera is away the slate keeps the sound going with silence:
// a reader connected through the outage gets µ-law packets of silence
// between the camera's tone, with timestamps that keep increasing.
func TestSlateCarriesSilence(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25, Audio: "pcmu"})
	g := startGateway(t, fmt.Sprintf("reconnect: {min: 200ms, max: 500ms}\nsources:\n"+
		"  - name: s\n    url: %s\n    transport: tcp\n", cam.URL))
	g.waitRunning("s", 10*time.Second)
	done := make(chan *avReading, 1)
	errs := make(chan error, 1)
	go func() {
		r, err := readAV(g.rtspURL("s"), 4*time.Second)
		errs <- err
		done <- r
	}()
	g.waitReaders("s", "rtsp", 1, 5*time.Second)
	g.waitFramesAfter("s", g.status("s").FramesIn+25, 5*time.Second) // a second of tone
	cam.Close()
	g.waitState("s", "retrying", 5*time.Second)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	r := <-done
	silent, tone := 0, 0
	for i, p := range r.audio {
		if bytes.Count(p.nalus[0], []byte{0xff}) == len(p.nalus[0]) {
			silent++
		} else {
			tone++
		}
		if i > 0 && p.pts <= r.audio[i-1].pts {
			t.Fatalf("audio packet %d at %v after %v", i, p.pts, r.audio[i-1].pts)
		}
	}
	if silent == 0 || tone == 0 {
		t.Errorf("%d silent and %d tone packets, want both: the camera's tone, then the slate's silence", silent, tone)
	}
}

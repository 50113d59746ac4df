package webrtc

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"go.uber.org/goleak"

	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

var (
	vp8Cap  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	h264Cap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: h264Fmtp("42e01f")}
	opusCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
)

// sendFrame is one encoded picture a test publisher sends.
type sendFrame struct {
	data []byte
	key  bool
}

// Clips of 4 s at 320x240, 30 fps, with one keyframe, first, made with
// the ffmpeg CLI on first use.
var (
	vp8Clip = ivfClip("vp8", func(b []byte) bool { return b[0]&1 == 0 },
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-auto-alt-ref", "0")
	vp9Clip = ivfClip("vp9", func(b []byte) bool { return b[0]&0x04 == 0 }, // profile 0: show_existing_frame, frame_type
		"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8")
	av1Clip = ivfClip("av1", func(b []byte) bool { key, _, _ := av1Key(b); return key },
		"-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8")
)

func ivfClip(name string, key func([]byte) bool, codec ...string) func() ([]sendFrame, error) {
	return sync.OnceValues(func() ([]sendFrame, error) {
		dir, err := os.MkdirTemp("", "whip-test")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, name+".ivf")
		args := append([]string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x240:rate=%d", fps), "-t", "4"}, codec...)
		if err := ffmpeg(append(args, "-g", "300", "-lag-in-frames", "0", "-b:v", "400k", "-f", "ivf", out)...); err != nil {
			return nil, err
		}
		return readIVF(out, key)
	})
}

func readIVF(name string, key func([]byte) bool) ([]sendFrame, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var frames []sendFrame
	for {
		b, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		frames = append(frames, sendFrame{data: b, key: len(b) > 0 && key(b)})
	}
	if len(frames) != 4*fps || !frames[0].key || slices.ContainsFunc(frames[1:], func(f sendFrame) bool { return f.key }) {
		return nil, fmt.Errorf("%s: %d frames, not one keyframe first", name, len(frames))
	}
	return frames, nil
}

// h264Frames is the helpers' H.264 clip in Annex B, the parameter sets in
// front of each IDR, as browsers send it.
func h264Frames() []sendFrame {
	frames := make([]sendFrame, len(clip320.aus))
	for i, au := range clip320.aus {
		nalus := au
		if clip320.idr[i] {
			nalus = append([][]byte{clip320.info.SPS, clip320.info.PPS}, au...)
		}
		frames[i] = sendFrame{data: annexB(nalus), key: clip320.idr[i]}
	}
	return frames
}

// ingestEnv is a server on loopback whose broker has the source "cam".
type ingestEnv struct {
	srv    *Server
	ts     *httptest.Server
	broker *publish.Broker
}

func startIngest(t *testing.T, o Options, bo publish.Options) *ingestEnv {
	t.Helper()
	bo.Lookup = func(name string) (publish.Policy, bool) { return publish.Policy{}, name == "cam" }
	b := publish.New(bo)
	o.Publish = b
	o.UDP, o.TCP = "127.0.0.1:0", "127.0.0.1:0"
	if o.Log == nil {
		o.Log = testLogger(t)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := &ingestEnv{srv: srv, ts: httptest.NewServer(srv.Handler()), broker: b}
	t.Cleanup(func() {
		e.srv.Close()
		e.broker.Close()
		e.ts.Close()
	})
	return e
}

func (e *ingestEnv) whip(name string) string { return e.ts.URL + e.srv.WHIPURL(name) }

// source is a fake publish source: it awaits the publisher of a name and
// keeps what it reads.
type source struct {
	mu     sync.Mutex
	info   *publish.Info
	video  []media.Packet
	audio  []media.Packet
	ended  error // ReadPacket's final error
	pub    *publish.Publisher
	cancel context.CancelFunc
	done   chan struct{}
}

func startSource(t *testing.T, b *publish.Broker, name string) *source {
	ctx, cancel := context.WithCancel(context.Background())
	s := &source{cancel: cancel, done: make(chan struct{})}
	go s.run(ctx, b, name)
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

func (s *source) run(ctx context.Context, b *publish.Broker, name string) {
	defer close(s.done)
	pub, err := b.Await(ctx, name)
	if err != nil {
		return
	}
	info := pub.Info()
	s.mu.Lock()
	s.info, s.pub = &info, pub
	s.mu.Unlock()
	for {
		pk, err := pub.ReadPacket(ctx)
		s.mu.Lock()
		switch {
		case err != nil:
			s.ended = err
		case pk.Audio:
			s.audio = append(s.audio, pk)
		default:
			s.video = append(s.video, pk)
		}
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *source) count() (video, audio int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.video), len(s.audio)
}

func (s *source) end() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// wantVideo waits for n video packets and checks them: the announced
// codec and size, a keyframe first, PTS increasing by about a frame, the
// frames sent, in order, and a stream ffmpeg decodes.
func (s *source) wantVideo(t *testing.T, codec media.Codec, n int, sent []sendFrame) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d video packets", n), 20*time.Second, func() bool { v, _ := s.count(); return v >= n })
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.info.Video; v.Codec != codec || v.Width != 320 || v.Height != 240 || v.ClockRate != 90000 {
		t.Errorf("announced video %+v, want %s 320x240 at 90 kHz", *v, codec)
	}
	if s.info.Protocol != publish.WebRTC || !strings.HasPrefix(s.info.Remote, "127.0.0.1:") {
		t.Errorf("announced %s from %q", s.info.Protocol, s.info.Remote)
	}
	if !s.video[0].Key {
		t.Error("the first video packet is no keyframe")
	}
	for i := 1; i < len(s.video); i++ {
		d := s.video[i].PTS - s.video[i-1].PTS
		if d <= 0 || d > 10*media.ClockRate/fps || s.video[i].DTS != s.video[i].PTS {
			t.Fatalf("packet %d: PTS %d after %d (DTS %d)", i, s.video[i].PTS, s.video[i-1].PTS, s.video[i].DTS)
		}
	}
	wantSent(t, codec, s.video, sent)
	wantDecodable(t, codec, s.video)
}

// wantSent checks that the packets are the frames sent, in order but
// for jumps to a keyframe (the client honours PLIs), as their codec
// units: the H.264 delimiters and the AV1 temporal delimiters stay behind
// (RTP does not carry them).
func wantSent(t *testing.T, codec media.Codec, got []media.Packet, sent []sendFrame) {
	t.Helper()
	same := func(a, b []byte) bool { return slices.EqualFunc(units(codec, a), units(codec, b), bytes.Equal) }
	k := -1
	for i, p := range got {
		if k < 0 || !same(sent[k].data, p.Data) && p.Key {
			k = slices.IndexFunc(sent, func(f sendFrame) bool { return f.key && same(f.data, p.Data) })
		}
		if k < 0 || !same(sent[k].data, p.Data) || sent[k].key != p.Key {
			t.Fatalf("packet %d (key %v, %d bytes) is not the next frame sent (%d)", i, p.Key, len(p.Data), k)
		}
		k = (k + 1) % len(sent)
	}
}

func units(codec media.Codec, frame []byte) [][]byte {
	switch codec {
	case media.CodecH264:
		return slices.DeleteFunc(media.SplitAnnexB(frame, nil), func(n []byte) bool {
			return media.NALUType(codec, n) == media.H264NALAUD
		})
	case media.CodecAV1:
		var bs av1.Bitstream
		if bs.Unmarshal(frame) != nil {
			return nil
		}
		return slices.DeleteFunc(bs, func(obu []byte) bool { return av1.OBUType(obu[0]>>3&0xf) == av1.OBUTypeTemporalDelimiter })
	}
	return [][]byte{frame}
}

// wantDecodable has ffmpeg decode the packets, as an IVF file or an H.264
// stream, and checks every one makes a picture without complaint.
func wantDecodable(t *testing.T, codec media.Codec, pkts []media.Packet) {
	t.Helper()
	var file []byte
	if codec != media.CodecH264 {
		fourcc := map[media.Codec]string{media.CodecVP8: "VP80", media.CodecVP9: "VP90", media.CodecAV1: "AV01"}[codec]
		file = binary.LittleEndian.AppendUint32([]byte("DKIF"), 32<<16)
		file = append(file, fourcc...)
		for _, v := range []uint32{320 | 240<<16, 90000, 1, uint32(len(pkts)), 0} {
			file = binary.LittleEndian.AppendUint32(file, v)
		}
	}
	for _, p := range pkts {
		if codec != media.CodecH264 {
			file = binary.LittleEndian.AppendUint32(file, uint32(len(p.Data)))
			file = binary.LittleEndian.AppendUint64(file, uint64(p.PTS))
		}
		file = append(file, p.Data...)
	}
	name := filepath.Join(t.TempDir(), "received")
	if err := os.WriteFile(name, file, 0o600); err != nil {
		t.Fatal(err)
	}
	demuxer := "ivf"
	if codec == media.CodecH264 {
		demuxer = "h264"
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-f", demuxer, "-i", name, "-f", "framecrc", "-").Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	n := 0
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, "#") {
			n++
		}
	}
	if err != nil || n != len(pkts) {
		t.Errorf("ffmpeg decodes %d pictures of %d packets: %v %s", n, len(pkts), err, stderr)
	}
}

// whipClient is a WHIP publisher made with pion: one video track of one
// codec, and Opus when asked. It honours PLIs by jumping to its next
// keyframe, as an encoder would make one.
type whipClient struct {
	t        *testing.T
	pc       *webrtc.PeerConnection
	video    *webrtc.TrackLocalStaticSample
	audio    *webrtc.TrackLocalStaticSample
	location string
	plis     atomic.Int32
	keyAsked atomic.Bool
	firstPLI atomic.Int64 // UnixNano
	wg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
}

func newWHIPClient(t *testing.T, video webrtc.RTPCodecCapability, audio bool) *whipClient {
	t.Helper()
	return newWHIPClientOn(t, whipClientAPI(t, func(m *webrtc.MediaEngine) error {
		video := video
		video.RTCPFeedback = []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
		err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: video},
			webrtc.RTPCodecTypeVideo)
		if err == nil && audio {
			err = m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: opusCap},
				webrtc.RTPCodecTypeAudio)
		}
		return err
	}), video, audio)
}

// newBrowserClient offers as a browser does: every codec pion knows, VP8
// first, with RTX, FEC and more; it sends VP8 and Opus.
func newBrowserClient(t *testing.T) *whipClient {
	t.Helper()
	return newWHIPClientOn(t, whipClientAPI(t, (*webrtc.MediaEngine).RegisterDefaultCodecs), vp8Cap, true)
}

func newWHIPClientOn(t *testing.T, api *webrtc.API, video webrtc.RTPCodecCapability, audio bool) *whipClient {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &whipClient{t: t, pc: pc, stop: make(chan struct{})}
	t.Cleanup(c.close)
	c.video = c.addTrack(video, "video")
	if audio {
		c.audio = c.addTrack(opusCap, "audio")
	}
	return c
}

func whipClientAPI(t *testing.T, register func(*webrtc.MediaEngine) error) *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := register(m); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// addTrack adds a send-only track and reads its RTCP for PLIs.
func (c *whipClient) addTrack(codec webrtc.RTPCodecCapability, kind string) *webrtc.TrackLocalStaticSample {
	tr, err := webrtc.NewTrackLocalStaticSample(codec, kind, "whip-test")
	if err != nil {
		c.t.Fatal(err)
	}
	x, err := c.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		c.t.Fatal(err)
	}
	c.wg.Go(func() {
		for {
			pkts, _, err := x.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					c.firstPLI.CompareAndSwap(0, time.Now().UnixNano())
					c.plis.Add(1)
					c.keyAsked.Store(true)
				}
			}
		}
	})
	return tr
}

// offer is the client's offer with its candidates, made once.
func (c *whipClient) offer() string {
	c.t.Helper()
	if d := c.pc.LocalDescription(); d != nil {
		return d.SDP
	}
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	<-gathered
	return c.pc.LocalDescription().SDP
}

// publish POSTs the offer and, on 201, applies the answer.
func (c *whipClient) publish(url string, hdr ...string) response {
	c.t.Helper()
	r := do(c.t, http.MethodPost, url, "application/sdp", c.offer(), hdr...)
	if r.code != http.StatusCreated {
		return r
	}
	c.location = r.header.Get("Location")
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: r.body}); err != nil {
		c.t.Fatalf("answer: %v\n%s", err, r.body)
	}
	return r
}

// send plays frames at 30 fps in a loop from frame from, with Opus
// packets of 20 ms when given; it honours the PLIs after the first
// ignore ones.
func (c *whipClient) send(frames []sendFrame, opus [][]byte, from int, ignore int32) {
	c.wg.Go(func() {
		tick := time.NewTicker(time.Second / fps)
		defer tick.Stop()
		i, apts := from, time.Duration(0)
		for n := 0; ; n++ {
			if c.keyAsked.Swap(false) && c.plis.Load() > ignore {
				for !frames[i%len(frames)].key {
					i++
				}
			}
			f := frames[i%len(frames)]
			_ = c.video.WriteSample(pmedia.Sample{Data: f.data, Duration: time.Second / fps})
			i++
			for vpts := time.Duration(n) * time.Second / fps; opus != nil && apts <= vpts; apts += 20 * time.Millisecond {
				_ = c.audio.WriteSample(pmedia.Sample{Data: opus[int(apts/(20*time.Millisecond))%len(opus)],
					Duration: 20 * time.Millisecond})
			}
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
		}
	})
}

func (c *whipClient) stopSending() { c.stopOnce.Do(func() { close(c.stop) }) }

func (c *whipClient) ended() bool {
	st := c.pc.ConnectionState()
	return st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed
}

func (c *whipClient) close() {
	c.stopSending()
	_ = c.pc.GracefulClose()
	c.wg.Wait()
}

// A browser's default: VP8 with Opus, published, then ended with DELETE.
func TestWHIPVP8(t *testing.T) {
	frames, err := vp8Clip()
	if err != nil {
		t.Fatal(err)
	}
	e := startIngest(t, Options{ICEServers: []ICEServer{{URLs: []string{"stun:stun.example.net:3478"}}}},
		publish.Options{})
	src := startSource(t, e.broker, "cam")
	c := newBrowserClient(t)
	offer := c.offer()
	for _, codec := range []string{"VP8", "VP9", "H264", "AV1", "rtx"} {
		if !strings.Contains(offer, " "+codec+"/90000") {
			t.Fatalf("the offer has no %s", codec)
		}
	}
	r := c.publish(e.whip("cam"))
	if r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	// The answer names VP8 alone, with the feedback we use.
	vp8 := regexp.MustCompile(`a=rtpmap:(\d+) VP8/90000`).FindStringSubmatch(r.body)
	_, video, _ := strings.Cut(r.body, "m=video")
	if vp8 == nil || !strings.HasPrefix(video, " 9 UDP/TLS/RTP/SAVPF "+vp8[1]+"\r\n") ||
		!strings.Contains(video, "a=rtcp-fb:"+vp8[1]+" nack pli") ||
		!strings.Contains(video, "a=rtcp-fb:"+vp8[1]+" transport-cc") {
		t.Errorf("answer:\n%s", r.body)
	}
	if !strings.HasPrefix(c.location, Prefix+"cam/whip/") || r.header.Get("ETag") == "" ||
		r.header.Get("Link") != `<stun:stun.example.net:3478>; rel="ice-server"` {
		t.Errorf("POST headers %v", r.header)
	}
	if !strings.Contains(r.body, "VP8/90000") || !strings.Contains(r.body, "opus/48000") ||
		!strings.Contains(r.body, "a=recvonly") || !strings.Contains(r.body, " typ host") {
		t.Errorf("answer:\n%s", r.body)
	}
	c.send(frames, opus20, 0, 0)
	src.wantVideo(t, media.CodecVP8, 45, frames)
	waitFor(t, "sound", 5*time.Second, func() bool { _, a := src.count(); return a >= 20 })
	src.mu.Lock()
	if a := src.info.Audio; a == nil || a.Codec != media.CodecOpus || a.ClockRate != 48000 || a.Channels != 2 {
		t.Errorf("announced audio %+v", a)
	}
	for i := 1; i < len(src.audio); i++ {
		if d := src.audio[i].PTS - src.audio[i-1].PTS; d != 960 {
			t.Fatalf("audio packet %d: PTS step %d, want 960", i, d)
		}
	}
	// The tracks start together: the first sound is near the first picture.
	if d := src.audio[0].PTS*media.ClockRate/48000 - src.video[0].PTS; d < -media.ClockRate || d > media.ClockRate {
		t.Errorf("sound starts %v from the picture", media.Duration(d))
	}
	src.mu.Unlock()

	if r := do(t, http.MethodDelete, e.ts.URL+c.location, "", ""); r.code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", r.code, r.body)
	}
	if n := e.srv.ingests.count(); n != 0 {
		t.Errorf("%d sessions after DELETE", n)
	}
	waitFor(t, "the source to see the end", 5*time.Second, func() bool { return errors.Is(src.end(), io.EOF) })
	if _, ok := e.broker.Current("cam"); ok {
		t.Error("the publisher is still connected")
	}
	waitFor(t, "the client to see the end", 10*time.Second, c.ended)
	if r := do(t, http.MethodDelete, e.ts.URL+c.location, "", ""); r.code != http.StatusNotFound {
		t.Errorf("second DELETE: %d", r.code)
	}
}

// H.264 comes in Annex B with its parameter sets; removing the source
// closes the publisher's connection.
func TestWHIPH264(t *testing.T) {
	e := startIngest(t, Options{}, publish.Options{})
	src := startSource(t, e.broker, "cam")
	c := newWHIPClient(t, h264Cap, false)
	if r := c.publish(e.whip("cam")); r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	sent := h264Frames()
	c.send(sent, nil, 0, 0)
	src.wantVideo(t, media.CodecH264, 30, sent)
	src.mu.Lock()
	var types []int
	for _, n := range media.SplitAnnexB(src.video[0].Data, nil) {
		types = append(types, media.NALUType(media.CodecH264, n))
	}
	if !slices.Contains(types, media.H264NALSPS) || !slices.Contains(types, media.H264NALPPS) ||
		!slices.Contains(types, media.H264NALIDR) {
		t.Errorf("first packet has NAL unit types %v", types)
	}
	if len(src.info.Video.Config) == 0 || src.info.Audio != nil {
		t.Errorf("announced %+v, audio %+v", *src.info.Video, src.info.Audio)
	}
	src.mu.Unlock()

	e.broker.Remove("cam")
	waitFor(t, "the session to close", 5*time.Second, func() bool { return e.srv.ingests.count() == 0 })
	waitFor(t, "the client to see the end", 10*time.Second, c.ended)
}

// VP9 and AV1 come frame by frame too, the size from their keyframe.
func TestWHIPVP9AV1(t *testing.T) {
	for _, c := range []struct {
		codec media.Codec
		cap   webrtc.RTPCodecCapability
		clip  func() ([]sendFrame, error)
	}{
		{media.CodecVP9, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000,
			SDPFmtpLine: "profile-id=0"}, vp9Clip},
		{media.CodecAV1, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, av1Clip},
	} {
		t.Run(string(c.codec), func(t *testing.T) {
			frames, err := c.clip()
			if err != nil {
				t.Fatal(err)
			}
			e := startIngest(t, Options{}, publish.Options{})
			src := startSource(t, e.broker, "cam")
			cl := newWHIPClient(t, c.cap, false)
			if r := cl.publish(e.whip("cam")); r.code != http.StatusCreated {
				t.Fatalf("POST: %d %s", r.code, r.body)
			}
			cl.send(frames, nil, 0, 0)
			src.wantVideo(t, c.codec, 30, frames)
		})
	}
}

// Until a keyframe comes, frames are dropped and a PLI goes out every
// two seconds.
func TestWHIPWaitsForKeyframe(t *testing.T) {
	frames, err := vp8Clip()
	if err != nil {
		t.Fatal(err)
	}
	e := startIngest(t, Options{}, publish.Options{})
	src := startSource(t, e.broker, "cam")
	c := newWHIPClient(t, vp8Cap, false)
	if r := c.publish(e.whip("cam")); r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	c.send(frames, nil, 1, 1) // no keyframe before the second PLI
	src.wantVideo(t, media.CodecVP8, 10, frames)
	if n := c.plis.Load(); n < 2 {
		t.Errorf("%d PLIs, want >= 2", n)
	}
	if d := time.Since(time.Unix(0, c.firstPLI.Load())); d < 1500*time.Millisecond {
		t.Errorf("published %v after the first PLI: not waiting for the second", d)
	}
	// Closing the server ends its publishers, saying why.
	e.srv.Close()
	src.mu.Lock()
	pub := src.pub
	src.mu.Unlock()
	if n := e.srv.ingests.count(); n != 0 || !errors.Is(pub.Err(), errServerClosed) {
		t.Errorf("after Close: %d sessions, publisher ended with %v", n, pub.Err())
	}
	waitFor(t, "the client to see the end", 10*time.Second, c.ended)
}

func TestWHIPRefusals(t *testing.T) {
	e := startIngest(t, Options{}, publish.Options{Required: true, MaxConnections: 1,
		Users: []publish.Credentials{{User: "pub", Pass: "secret"}, {Pass: "token"}}})
	good := newWHIPClient(t, vp8Cap, true).offer()
	h265 := newWHIPClient(t, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000}, false).offer()
	whep := newClient(t, clientOpts{}).offer(false)
	basic := []string{"Authorization", "Basic cHViOnNlY3JldA=="} // pub:secret
	bearer := []string{"Authorization", "Bearer token"}
	for _, c := range []struct {
		name, method, path, ctype, body string
		hdr                             []string
		code                            int
		msg                             string
	}{
		{"no credentials", "POST", "/webrtc/cam/whip", sdpType, good, nil, 401, "credentials"},
		{"wrong password", "POST", "/webrtc/cam/whip", sdpType, good,
			[]string{"Authorization", "Basic cHViOm5vcGU="}, 401, "credentials"},
		{"wrong token", "POST", "/webrtc/cam/whip", sdpType, good, []string{"Authorization", "Bearer nope"}, 401, "credentials"},
		{"unknown source", "POST", "/webrtc/nope/whip", sdpType, good, basic, 404, "no publish source"},
		{"malformed SDP", "POST", "/webrtc/cam/whip", sdpType, "hello", bearer, 400, "not an SDP offer"},
		{"only H.265", "POST", "/webrtc/cam/whip", sdpType, h265, bearer, 400, "the offer has H265"},
		{"WHEP offer", "POST", "/webrtc/cam/whip", sdpType, whep, bearer, 400, "recvonly"},
		{"not SDP", "POST", "/webrtc/cam/whip", "text/plain", good, bearer, 415, "content type"},
		{"GET", "GET", "/webrtc/cam/whip", "", "", nil, 405, "method"},
		{"unknown session", "PATCH", "/webrtc/cam/whip/abc", fragType, "", nil, 404, "unknown session"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, e.ts.URL+c.path, c.ctype, c.body, c.hdr...)
			var body struct{ Error string }
			if r.code != c.code || json.Unmarshal([]byte(r.body), &body) != nil || !strings.Contains(body.Error, c.msg) {
				t.Errorf("%d %s, want %d with %q", r.code, r.body, c.code, c.msg)
			}
			if c.code == 401 && r.header.Get("WWW-Authenticate") != `Basic realm="visiongate"` {
				t.Errorf("401 without the challenge: %v", r.header)
			}
		})
	}
	if r := do(t, http.MethodOptions, e.whip("cam"), "", "", "Access-Control-Request-Headers", "authorization"); r.code != 204 ||
		r.header.Get("Accept-Post") != sdpType || r.header.Get("Access-Control-Allow-Headers") != "authorization" {
		t.Errorf("OPTIONS: %d %v", r.code, r.header)
	}

	// One connection at a time (MaxConnections 1); its session takes
	// trickle PATCHes, but not a restart.
	a := newWHIPClient(t, vp8Cap, false)
	if r := a.publish(e.whip("cam"), basic...); r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	if r := do(t, http.MethodPost, e.whip("cam"), sdpType, good, bearer...); r.code != 503 || !strings.Contains(r.body, "too many") {
		t.Errorf("second connection: %d %s", r.code, r.body)
	}
	frag := "a=ice-ufrag:other\r\na=ice-pwd:0123456789012345678901\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	if r := do(t, http.MethodPatch, e.ts.URL+a.location, fragType, frag); r.code != 422 {
		t.Errorf("restart: %d %s", r.code, r.body)
	}
	if r := do(t, http.MethodPatch, e.ts.URL+a.location, fragType, "a=end-of-candidates\r\n"); r.code != 204 {
		t.Errorf("PATCH: %d %s", r.code, r.body)
	}
	if r := do(t, http.MethodPatch, e.ts.URL+strings.Replace(a.location, "/cam/", "/other/", 1), fragType, ""); r.code != 404 {
		t.Errorf("PATCH under another name: %d %s", r.code, r.body)
	}
	if r := do(t, http.MethodDelete, e.ts.URL+a.location, "", ""); r.code != 200 {
		t.Fatalf("DELETE: %d %s", r.code, r.body)
	}

	// Another protocol's publisher has the source.
	other, err := e.broker.Publish(publish.Announce{Name: "cam", Protocol: publish.RTMP, Remote: "10.0.0.1:1935",
		User: "pub", Pass: "secret", Video: &media.Track{Codec: media.CodecH264, ClockRate: 90000}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(nil)
	if r := do(t, http.MethodPost, e.whip("cam"), sdpType, good, bearer...); r.code != 409 || !strings.Contains(r.body, "rtmp") {
		t.Errorf("busy source: %d %s", r.code, r.body)
	}
	if n := e.srv.ingests.count(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

// Without a broker, WHIP is off; WHEP is unaffected.
func TestWHIPOff(t *testing.T) {
	e := startEnv(t, Options{})
	r := do(t, http.MethodPost, e.ts.URL+"/webrtc/cam/whip", sdpType, "v=0")
	if r.code != http.StatusNotImplemented || !strings.Contains(r.body, "not enabled") {
		t.Errorf("POST: %d %s", r.code, r.body)
	}
}

// A session whose ICE never connects is closed after ConnectTimeout and
// gives back its connection slot; nothing is left behind, by it or by a
// session that published.
func TestWHIPConnectTimeoutLeavesNothing(t *testing.T) {
	e := startIngest(t, Options{ConnectTimeout: 300 * time.Millisecond}, publish.Options{MaxConnections: 1})
	baseline := goleak.IgnoreCurrent()
	c := newWHIPClient(t, vp8Cap, true)
	sdp := c.offer()
	c.close() // gone before it could connect
	if r := do(t, http.MethodPost, e.whip("cam"), sdpType, sdp); r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	if n := e.srv.ingests.count(); n != 1 {
		t.Errorf("%d sessions while connecting, want 1", n)
	}
	waitFor(t, "the session to time out", 5*time.Second, func() bool { return e.srv.ingests.count() == 0 })
	release, err := e.broker.Admit(publish.WebRTC)
	if err != nil {
		t.Fatalf("the connection slot is still taken: %v", err)
	}
	release()
	waitNoLeak(t, baseline)

	// Nor does a session that published, once DELETEd.
	frames, err := vp8Clip()
	if err != nil {
		t.Fatal(err)
	}
	c = newWHIPClient(t, vp8Cap, true)
	if r := c.publish(e.whip("cam")); r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	c.send(frames, opus20, 0, 0)
	waitFor(t, "the publisher", 10*time.Second, func() bool { _, ok := e.broker.Current("cam"); return ok })
	if r := do(t, http.MethodDelete, e.ts.URL+c.location, "", ""); r.code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", r.code, r.body)
	}
	c.close()
	waitNoLeak(t, baseline)
}

// A publisher that stops sending video is dropped after the media
// timeout, and its source sees why.
func TestWHIPMediaTimeout(t *testing.T) {
	frames, err := vp8Clip()
	if err != nil {
		t.Fatal(err)
	}
	e := startIngest(t, Options{}, publish.Options{})
	e.srv.mediaTimeout = time.Second
	src := startSource(t, e.broker, "cam")
	c := newWHIPClient(t, vp8Cap, false)
	if r := c.publish(e.whip("cam")); r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	c.send(frames, nil, 0, 0)
	src.wantVideo(t, media.CodecVP8, 10, frames)
	c.stopSending()
	waitFor(t, "the session to be dropped", 10*time.Second, func() bool { return e.srv.ingests.count() == 0 })
	src.mu.Lock()
	pub := src.pub
	src.mu.Unlock()
	if !errors.Is(pub.Err(), ErrNoMedia) {
		t.Errorf("publisher ended with %v, want ErrNoMedia", pub.Err())
	}
	waitFor(t, "the client to see the end", 10*time.Second, c.ended)
}

// A publisher that closes its connection ends its publisher.
func TestWHIPClientGone(t *testing.T) {
	frames, err := vp8Clip()
	if err != nil {
		t.Fatal(err)
	}
	e := startIngest(t, Options{DisconnectTimeout: 500 * time.Millisecond}, publish.Options{})
	src := startSource(t, e.broker, "cam")
	c := newWHIPClient(t, vp8Cap, false)
	if r := c.publish(e.whip("cam")); r.code != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	c.send(frames, nil, 0, 0)
	src.wantVideo(t, media.CodecVP8, 10, frames)
	start := time.Now()
	c.close()
	waitFor(t, "the session to end", 10*time.Second, func() bool { return e.srv.ingests.count() == 0 })
	waitFor(t, "the source to see the end", 5*time.Second, func() bool { return errors.Is(src.end(), io.EOF) })
	t.Logf("ended %v after the client closed", time.Since(start))
}

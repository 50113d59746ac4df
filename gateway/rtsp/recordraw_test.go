package rtsp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
	push "github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

// goPublisher records a real H.264 clip with gortsplib's client, its
// parameter sets in the SDP only: no unit carries them.
type goPublisher struct {
	c    *gortsplib.Client
	medi *description.Media
	enc  *rtph264.Encoder
	clip []*media.AccessUnit
	n    int
}

var (
	clipOnce sync.Once
	clip     []*media.AccessUnit
)

// sharedClip encodes the clip once for every test.
func sharedClip(t *testing.T) []*media.AccessUnit {
	clipOnce.Do(func() { clip = encodeClip(t) })
	if clip == nil {
		t.Fatal("no clip")
	}
	return clip
}

func startGoPublisher(t *testing.T, s *Server, name string, proto gortsplib.Protocol) (*goPublisher, error) {
	t.Helper()
	clip := sharedClip(t)
	info := clip[0].Info
	forma := &format.H264{PayloadTyp: 96, SPS: info.SPS, PPS: info.PPS, PacketizationMode: 1}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	enc, err := forma.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Protocol: &proto, ReadTimeout: 5 * time.Second}
	if err := c.StartRecording(rtspURL(s, "", name), &description.Session{Medias: []*description.Media{medi}}); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	return &goPublisher{c: c, medi: medi, enc: enc, clip: clip}, nil
}

// write sends the clip's next n units, over and over; an error means the
// server has let go of it.
func (g *goPublisher) write(n int) error {
	for range n {
		au := g.clip[g.n%len(g.clip)]
		var nalus [][]byte
		for _, u := range au.NALUs {
			if typ := h264.NALUType(u[0] & 0x1f); typ != h264.NALUTypeSPS && typ != h264.NALUTypePPS {
				nalus = append(nalus, u)
			}
		}
		pkts, err := g.enc.Encode(nalus)
		if err != nil {
			return err
		}
		for _, p := range pkts {
			p.Timestamp = uint32(g.n * 3600)
			if err := g.c.WritePacketRTP(g.medi, p); err != nil {
				return err
			}
		}
		g.n++
	}
	return nil
}

// An IDR without parameter sets gets the announced ones in front of it,
// over TCP and UDP.
func TestRecordPrependsParameterSets(t *testing.T) {
	for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
		t.Run(proto.String(), func(t *testing.T) {
			s, b := pushServer(t, cam, nil, nil)
			k := newSink(t, b, "cam")
			g, err := startGoPublisher(t, s, "cam", proto)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "30 units", func() bool {
				if err := g.write(1); err != nil {
					t.Fatal(err)
				}
				v, _ := k.counts()
				return v >= 30
			})
			g.c.Close() // TEARDOWN
			if err := k.ended(t); !errors.Is(err, io.EOF) {
				t.Errorf("the source read %v after the publisher left, want io.EOF", err)
			}
			checkH264Track(t, k.pub.Info().Video, 320, 240)
			checkVideo(t, k.video)
			info := sharedClip(t)[0].Info
			first := media.SplitAnnexB(k.video[0].Data, nil)
			if len(first) < 3 || !bytes.Equal(first[0], info.SPS) || !bytes.Equal(first[1], info.PPS) {
				t.Errorf("the first keyframe does not start with the SPS and the PPS: %d NALUs", len(first))
			}
		})
	}
}

// A second publisher is refused (409) unless the source lets it take
// over, which disconnects the first; removing the source disconnects its
// publisher.
func TestRecordBusyOverrideAndRemove(t *testing.T) {
	for _, override := range []bool{false, true} {
		t.Run(fmt.Sprint("override=", override), func(t *testing.T) {
			s, b := pushServer(t, map[string]push.Policy{"cam": {Override: override}}, nil, nil)
			k1 := newSink(t, b, "cam")
			g1, err := startGoPublisher(t, s, "cam", gortsplib.ProtocolTCP)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first publisher claimed", func() bool { return k1.publisher() != nil })
			_, err = startGoPublisher(t, s, "cam", gortsplib.ProtocolTCP)
			if !override {
				if code := statusCode(err); code != statusConflict {
					t.Fatalf("second publisher: %v, want 409", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("second publisher with override: %v", err)
			}
			if err := waitClosed(t, g1.c); err == nil {
				t.Error("the first publisher's connection ended without an error")
			}
			if err := k1.ended(t); !errors.Is(err, io.EOF) || !errors.Is(k1.pub.Err(), push.ErrTakenOver) {
				t.Errorf("first publisher: read %v, ended with %v", err, k1.pub.Err())
			}
			k2 := newSink(t, b, "cam")
			waitFor(t, "the second publisher claimed", func() bool { return k2.publisher() != nil })
			b.Remove("cam")
			if err := k2.ended(t); !errors.Is(err, io.EOF) || !errors.Is(k2.pub.Err(), push.ErrSourceGone) {
				t.Errorf("second publisher: read %v, ended with %v", err, k2.pub.Err())
			}
		})
	}
}

// Publishing sessions count against the broker's RTSP connections, and
// give their slot back when they leave.
func TestRecordConnectionLimit(t *testing.T) {
	s, _ := pushServer(t, map[string]push.Policy{"a": {}, "b": {}}, func(o *push.Options) { o.MaxConnections = 1 }, nil)
	g, err := startGoPublisher(t, s, "a", gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startGoPublisher(t, s, "b", gortsplib.ProtocolTCP); statusCode(err) != base.StatusServiceUnavailable {
		t.Fatalf("publisher over the limit: %v, want 503", err)
	}
	g.c.Close()
	waitFor(t, "the slot back", func() bool {
		g, err := startGoPublisher(t, s, "b", gortsplib.ProtocolTCP)
		if err == nil {
			g.c.Close()
		}
		return err == nil
	})
}

// Without a broker OPTIONS does not offer ANNOUNCE (TestRecordRefused:
// it is answered 501); with one it does.
func TestRecordOptions(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		var s *Server
		if enabled {
			s, _ = pushServer(t, cam, nil, nil)
		} else {
			s = startServer(t, nil)
		}
		res, err := newClient(t, s, gortsplib.ProtocolTCP).Options(pathURL(t, s, "cam"))
		if err != nil {
			t.Fatal(err)
		}
		public := strings.Join(res.Header["Public"], ",")
		if strings.Contains(public, "ANNOUNCE") != enabled || strings.Contains(public, "RECORD") != enabled {
			t.Errorf("publishing enabled %v: OPTIONS offers %q", enabled, public)
		}
	}
}

// A publisher of a path that readers play does not count as a reader,
// and the readers go on reading the path's hub.
func TestRecordBesideReaders(t *testing.T) {
	s, b := pushServer(t, cam, nil, nil)
	h := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h})
	src := newSynth()
	h.Publish(src.next())
	r, _ := play(t, newClient(t, s, gortsplib.ProtocolTCP), pathURL(t, s, "cam"))
	waitFor(t, "one reader", func() bool { return s.Readers("cam") == 1 })

	k := newSink(t, b, "cam")
	g, err := startGoPublisher(t, s, "cam", gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "published and read units", func() bool {
		h.Publish(src.next())
		if err := g.write(1); err != nil {
			t.Fatal(err)
		}
		v, _ := k.counts()
		return v >= 20 && r.units() >= 20
	})
	if n := s.Readers("cam"); n != 1 {
		t.Errorf("%d readers, want 1", n)
	}
}

// Hostile ANNOUNCEs get a clear refusal, and the server goes on serving.
func TestRecordHostileAnnounce(t *testing.T) {
	s, b := pushServer(t, cam, nil, nil)
	huge := hugeSPS(t)
	cases := []struct {
		name, sdp, want string
	}{
		{"malformed SDP", "v=0\r\nthis is no SDP\r\n", "RTSP/1.0 400"},
		{"16k x 16k SPS", h264SDP(huge), "RTSP/1.0 400 Bad Request (publish: unusable stream: 16384x16384"},
		// gortsplib drops an unreadable SPS: the stream must carry it.
		{"garbage SPS", h264SDP([]byte{0x67, 0x64, 0x00}), "RTSP/1.0 200"},
		{"no video", pcmuSDP, "RTSP/1.0 415 Unsupported Media Type (rtsp: no H.264 or H.265"},
	}
	for _, c := range cases {
		if got := rawAnnounce(t, s.ListenAddr(), "cam", c.sdp, "", ""); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if _, ok := b.Current("cam"); ok {
		t.Fatal("a hostile publisher was connected")
	}
	k := newSink(t, b, "cam")
	g, err := startGoPublisher(t, s, "cam", gortsplib.ProtocolTCP)
	if err != nil {
		t.Fatalf("publishing after the hostile ANNOUNCEs: %v", err)
	}
	waitFor(t, "units", func() bool {
		if err := g.write(1); err != nil {
			t.Fatal(err)
		}
		v, _ := k.counts()
		return v >= 5
	})
}

const pcmuSDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 0 RTP/AVP 0\r\na=control:trackID=0\r\n"

// h264SDP describes one H.264 track with sps and testPPS.
func h264SDP(sps []byte) string {
	return "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
		"a=fmtp:96 packetization-mode=1; sprop-parameter-sets=" +
		base64.StdEncoding.EncodeToString(sps) + "," + base64.StdEncoding.EncodeToString(testPPS) + "\r\n" +
		"a=control:trackID=0\r\n"
}

// rawAnnounce sends one ANNOUNCE (with Basic credentials unless user is
// empty) and returns the status line.
func rawAnnounce(t *testing.T, addr, name, sdp, user, pass string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := base.Request{Method: base.Announce, URL: mustURL(t, "rtsp://"+addr+"/"+name),
		Header: base.Header{"CSeq": base.HeaderValue{"1"}, "Content-Type": base.HeaderValue{"application/sdp"}},
		Body:   []byte(sdp)}
	if user != "" {
		req.Header["Authorization"] = base.HeaderValue{"Basic " + basic(user, pass)}
	}
	b, _ := req.Marshal()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return strings.TrimSpace(status)
}

// hugeSPS is a valid baseline SPS of 1024 x 1024 macroblocks.
func hugeSPS(t *testing.T) []byte {
	var w bitWriter
	w.bits(66, 8) // profile_idc: baseline
	w.bits(0, 8)  // constraint flags
	w.bits(51, 8) // level_idc
	w.ue(0)       // seq_parameter_set_id
	w.ue(0)       // log2_max_frame_num_minus4
	w.ue(2)       // pic_order_cnt_type
	w.ue(1)       // max_num_ref_frames
	w.bits(0, 1)  // gaps_in_frame_num_value_allowed_flag
	w.ue(1023)    // pic_width_in_mbs_minus1
	w.ue(1023)    // pic_height_in_map_units_minus1
	w.bits(1, 1)  // frame_mbs_only_flag
	w.bits(1, 1)  // direct_8x8_inference_flag
	w.bits(0, 1)  // frame_cropping_flag
	w.bits(0, 1)  // vui_parameters_present_flag
	w.bits(1, 1)  // rbsp_stop_one_bit
	sps := append([]byte{0x67}, escape(w.bytes())...)
	var p h264.SPS
	if err := p.Unmarshal(sps); err != nil || p.Width() != 16384 || p.Height() != 16384 {
		t.Fatalf("test SPS: %v, %dx%d", err, p.Width(), p.Height())
	}
	return sps
}

// escape inserts H.264's emulation prevention bytes.
func escape(rbsp []byte) []byte {
	var out []byte
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			out, zeros = append(out, 3), 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
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

// ue writes an unsigned Exp-Golomb code.
func (w *bitWriter) ue(v uint64) {
	v++
	n := 0
	for x := v; x > 1; x >>= 1 {
		n++
	}
	w.bits(0, n)
	w.bits(v, n+1)
}

func (w *bitWriter) bytes() []byte { return w.buf }

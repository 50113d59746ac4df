package rtsp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// rawReader is a hand-written interleaved-TCP player that checks the
// bytes on the wire.
type rawReader struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	tp   *textproto.Reader
	cseq int
}

func dialRaw(t *testing.T, addr string) *rawReader {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	return &rawReader{t: t, conn: conn, br: br, tp: textproto.NewReader(br)}
}

// request sends method with headers and returns the response headers; the
// status must be 200, and must be the first thing read.
func (r *rawReader) request(method, url string, hdr ...string) textproto.MIMEHeader {
	r.t.Helper()
	r.cseq++
	req := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, url, r.cseq, strings.Join(append(hdr, ""), "\r\n"))
	if _, err := io.WriteString(r.conn, req); err != nil {
		r.t.Fatal(err)
	}
	status, err := r.tp.ReadLine()
	if err != nil || !strings.HasPrefix(status, "RTSP/1.0 200") {
		r.t.Fatalf("%s: status line %q, %v", method, status, err)
	}
	h, err := r.tp.ReadMIMEHeader()
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// frame reads one interleaved frame.
func (r *rawReader) frame() (channel int, payload []byte) {
	r.t.Helper()
	var head [4]byte
	if _, err := io.ReadFull(r.br, head[:]); err != nil {
		r.t.Fatal(err)
	}
	if head[0] != '$' {
		r.t.Fatalf("expected an interleaved frame, read %q", head[:])
	}
	payload = make([]byte, binary.BigEndian.Uint16(head[2:]))
	if _, err := io.ReadFull(r.br, payload); err != nil {
		r.t.Fatal(err)
	}
	return int(head[1]), payload
}

// TestDirectReaderWire plays over interleaved TCP, on channels the client
// picks, while units keep coming, and checks what a strict player needs:
// the PLAY response before any media, with an RTP-Info that dates it, a
// sender report before the first RTP packet, the SSRC SETUP announced, and
// a first picture that is an IDR.
func TestDirectReaderWire(t *testing.T) {
	s, h, src := servingCam(t, nil)
	waitFor(t, "stream", func() bool { return s.lookup("cam").currentStream() != nil })
	stop := make(chan struct{})
	defer close(stop)
	go func() { // units race the requests
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				h.Publish(src.next())
			}
		}
	}()

	r := dialRaw(t, s.ListenAddr())
	base := "rtsp://" + s.ListenAddr() + "/cam"
	setup := r.request("SETUP", base+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=6-7")
	var th headers.Transport
	if err := th.Unmarshal(base2header(setup.Get("Transport"))); err != nil || th.SSRC == nil {
		t.Fatalf("SETUP transport %q: %v", setup.Get("Transport"), err)
	}
	session, _, _ := strings.Cut(setup.Get("Session"), ";")
	play := r.request("PLAY", base+"/", "Session: "+session)
	var info headers.RTPInfo
	if err := info.Unmarshal(base2header(play.Get("RTP-Info"))); err != nil || len(info) != 1 ||
		info[0].SequenceNumber == nil || info[0].Timestamp == nil {
		t.Fatalf("PLAY's RTP-Info %q (%v), want the track's seq and rtptime", play.Get("RTP-Info"), err)
	}
	if p := s.lookup("cam"); len(p.directReaders()) != 1 {
		t.Fatalf("%d direct readers, want 1", len(p.directReaders()))
	}

	ch, payload := r.frame()
	if ch != 7 {
		t.Fatalf("first frame on channel %d, want the RTCP channel 7", ch)
	}
	pkts, err := rtcp.Unmarshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	sr, ok := pkts[0].(*rtcp.SenderReport)
	if !ok || sr.SSRC != *th.SSRC {
		t.Fatalf("first RTCP %T %+v, want a sender report of SSRC %08x", pkts[0], pkts[0], *th.SSRC)
	}
	ch, payload = r.frame()
	var pkt rtp.Packet
	if err := pkt.Unmarshal(payload); err != nil || ch != 6 {
		t.Fatalf("second frame: channel %d, %v", ch, err)
	}
	if pkt.SSRC != *th.SSRC || pkt.Timestamp != sr.RTPTime {
		t.Errorf("RTP SSRC %08x ts %d, want SSRC %08x and the report's ts %d", pkt.SSRC, pkt.Timestamp, *th.SSRC, sr.RTPTime)
	}
	if int16(pkt.SequenceNumber-*info[0].SequenceNumber) < 0 || int32(pkt.Timestamp-*info[0].Timestamp) < 0 {
		t.Errorf("first RTP seq %d ts %d, dated before the RTP-Info's seq %d rtptime %d",
			pkt.SequenceNumber, pkt.Timestamp, *info[0].SequenceNumber, *info[0].Timestamp)
	}
	if typ := firstNALUType(pkt.Payload); typ != 7 && typ != 5 {
		t.Errorf("first NALU type %d, want the SPS (7) or IDR (5) that opens an IDR unit", typ)
	}
}

// base2header wraps a header value for headers.Transport.
func base2header(v string) base.HeaderValue { return base.HeaderValue{v} }

// firstNALUType reads the type of the first NALU of an H.264 RTP payload
// (single NALU, STAP-A or FU-A).
func firstNALUType(p []byte) byte {
	switch {
	case len(p) < 2:
		return 0
	case p[0]&0x1f == 24 && len(p) > 3: // STAP-A: 2-byte size, then the NALU
		return p[3] & 0x1f
	case p[0]&0x1f == 28: // FU-A
		return p[1] & 0x1f
	}
	return p[0] & 0x1f
}

// TestTransportsShareUnits: a TCP reader (direct) and a UDP reader
// (gortsplib's) play one path side by side and both get every unit.
func TestTransportsShareUnits(t *testing.T) {
	s, h, src := servingCam(t, nil)
	tcp, _ := play(t, newClient(t, s, gortsplib.ProtocolTCP), pathURL(t, s, "cam"))
	udp, _ := play(t, newClient(t, s, gortsplib.ProtocolUDP), pathURL(t, s, "cam"))
	p := s.lookup("cam")
	if s.Readers("cam") != 2 || len(p.directReaders()) != 1 {
		t.Fatalf("%d readers, %d direct; want 2 and 1", s.Readers("cam"), len(p.directReaders()))
	}
	src.n = 0 // the next unit is an IDR
	publish(h, src, 100, time.Millisecond)
	waitFor(t, "both readers", func() bool { return tcp.units() >= 90 && udp.units() >= 90 })
	for name, r := range map[string]*receiver{"tcp": tcp, "udp": udp} {
		r.mu.Lock()
		if !r.monotonic {
			t.Errorf("%s reader: timestamps went backwards", name)
		}
		r.mu.Unlock()
	}
}

// TestDirectReaderLeaves: a direct reader that disconnects leaves the
// fan-out, and the path's want with it.
func TestDirectReaderLeaves(t *testing.T) {
	s, _, _ := servingCam(t, nil)
	c := newClient(t, s, gortsplib.ProtocolTCP)
	play(t, c, pathURL(t, s, "cam"))
	p := s.lookup("cam")
	waitFor(t, "a direct reader", func() bool { return len(p.directReaders()) == 1 })
	c.Close()
	waitFor(t, "no readers", func() bool { return len(p.directReaders()) == 0 && s.Readers("cam") == 0 })
}

// countingConn is a frameConn whose Writes the test sets.
type countingConn struct{ writes uint64 }

func (c *countingConn) TryWrite([]byte) error            { c.writes++; return nil }
func (c *countingConn) SetWriteDeadline(time.Time) error { return nil }
func (c *countingConn) Writes() uint64                   { return c.writes }

// TestDirectReaderWaitsForPlayResponse: media may follow the PLAY
// response, never precede it.
func TestDirectReaderWaitsForPlayResponse(t *testing.T) {
	conn := &countingConn{writes: 3} // OPTIONS, DESCRIBE, SETUP answered
	r := newDirectReader(nil, conn, nil)
	if r.ready() {
		t.Fatal("ready before OnResponse saw the PLAY answer")
	}
	r.readyAfter.Store(int64(conn.Writes())) // OnResponse, just before the write
	if r.ready() {
		t.Fatal("ready before the PLAY answer was written")
	}
	conn.writes++ // the answer
	if !r.ready() {
		t.Fatal("not ready after the PLAY answer")
	}
}

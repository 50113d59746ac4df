package rtsp

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
)

// rawPlay starts playing path over interleaved TCP with a hand-written
// client that never reads after the PLAY response.
func rawPlay(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4096) // fill up quickly
	tp := textproto.NewReader(bufio.NewReader(conn))
	request := func(req string) textproto.MIMEHeader {
		if _, err := fmt.Fprint(conn, req); err != nil {
			t.Fatal(err)
		}
		status, err := tp.ReadLine()
		if err != nil || !strings.HasPrefix(status, "RTSP/1.0 200") {
			t.Fatalf("raw request: %q, %v", status, err)
		}
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatal(err)
		}
		return hdr
	}
	base := "rtsp://" + addr + "/" + path
	hdr := request("SETUP " + base + "/trackID=0 RTSP/1.0\r\nCSeq: 1\r\n" +
		"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n")
	session, _, _ := strings.Cut(hdr.Get("Session"), ";")
	request("PLAY " + base + "/ RTSP/1.0\r\nCSeq: 2\r\nSession: " + session + "\r\n\r\n")
	return conn
}

// droppedPackets sums the packets the server could not queue for readers
// of name.
func droppedPackets(s *Server, name string) uint64 {
	p := s.lookup(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	var n uint64
	for ss := range p.readers {
		if sd, ok := ss.UserData().(*session); ok {
			n += sd.writeErrs.Load()
		}
	}
	return n
}

func TestStuckReaderDoesNotBlockOthers(t *testing.T) {
	s := startServer(t, func(s *Server) { s.WriteQueueSize = 128 })
	h := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h})
	src := &synth{info: testInfo, gop: 25, size: 30000} // ~21 RTP packets a unit
	h.Publish(src.next())
	// The raw client skips DESCRIBE, which is what waits for the stream.
	waitFor(t, "stream", func() bool { return s.lookup("cam").currentStream() != nil })
	rawPlay(t, s.ListenAddr(), "cam")
	c := newClient(t, s, gortsplib.ProtocolTCP)
	r, _ := play(t, c, pathURL(t, s, "cam"))
	waitFor(t, "two readers", func() bool { return s.Readers("cam") == 2 })

	src.n = 0
	const n = 300 // ~9 MB: more than the stuck socket's buffers and queue
	publish(h, src, n, 2*time.Millisecond)
	waitFor(t, "80% of the units", func() bool { return r.units() >= n*8/10 })
	if droppedPackets(s, "cam") == 0 {
		t.Error("the stuck reader lost nothing: the test did not stress it")
	}
	t.Logf("good reader got %d/%d units", r.units(), n)
}

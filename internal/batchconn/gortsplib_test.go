package batchconn

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// countingListener puts a counting conn under each accepted conn.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*counting
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &counting{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

func (l *countingListener) writes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, c := range l.conns {
		n += c.writes.Load()
	}
	return n
}

// recordingListener keeps the Conns it hands out.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*Conn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c.(*Conn))
		l.mu.Unlock()
	}
	return c, err
}

type streamHandler struct{ stream *gortsplib.ServerStream }

func (h *streamHandler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *streamHandler) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *streamHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

const (
	e2ePackets = 8    // per access unit
	e2eSize    = 1200 // payload bytes
)

// e2ePayload is packet i's payload: its index, then bytes derived from it.
func e2ePayload(i uint32) []byte {
	b := make([]byte, e2eSize)
	binary.BigEndian.PutUint32(b, i)
	for j := 4; j < len(b); j++ {
		b[j] = byte(i*31 + uint32(j))
	}
	return b
}

func checkPayload(b []byte) (uint32, error) {
	if len(b) != e2eSize {
		return 0, fmt.Errorf("payload of %d bytes", len(b))
	}
	i := binary.BigEndian.Uint32(b)
	if string(b) != string(e2ePayload(i)) {
		return i, fmt.Errorf("packet %d corrupted", i)
	}
	return i, nil
}

// startRTSP serves one H.264 stream through Wrap and returns it, the
// server's address and the listeners under and over Wrap.
func startRTSP(t *testing.T) (*gortsplib.ServerStream, string, *countingListener, *recordingListener) {
	var under *countingListener
	var over *recordingListener
	h := &streamHandler{}
	srv := &gortsplib.Server{
		Handler:     h,
		RTSPAddress: "127.0.0.1:0",
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			under = &countingListener{Listener: ln}
			over = &recordingListener{Listener: Wrap(under, Options{})}
			return over, nil
		},
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	desc := &description.Session{Medias: []*description.Media{{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}},
	}}}
	h.stream = &gortsplib.ServerStream{Server: srv, Desc: desc}
	if err := h.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stream.Close)
	return h.stream, srv.NetListener().Addr().String(), under, over
}

// feed writes access units of e2ePackets packets, one every 2 ms, until
// stop closes; it returns how many packets it wrote.
func feed(stream *gortsplib.ServerStream, stop <-chan struct{}) int {
	medi := stream.Desc.Medias[0]
	var i uint32
	for {
		select {
		case <-stop:
			return int(i)
		case <-time.After(2 * time.Millisecond):
		}
		for k := range e2ePackets {
			pkt := &rtp.Packet{
				Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i),
					Timestamp: i / e2ePackets * 3000, SSRC: 0x1234, Marker: k == e2ePackets-1},
				Payload: e2ePayload(i),
			}
			stream.WritePacketRTP(medi, pkt) //nolint:errcheck // no readers yet is fine
			i++
		}
	}
}

// TestGortsplibPlayTCP: a gortsplib server on a wrapped listener streams
// to a gortsplib client over TCP; packets arrive intact, in order, in far
// fewer real writes, and every flusher is gone after Close.
func TestGortsplibPlayTCP(t *testing.T) {
	stream, addr, under, over := startRTSP(t)
	stop := make(chan struct{})
	fed := make(chan int, 1)
	go func() { fed <- feed(stream, stop) }()
	defer func() { close(stop); <-fed }()

	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: "rtsp", Host: addr, Protocol: &tcp, ReadTimeout: 5 * time.Second}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := base.ParseURL("rtsp://" + addr + "/cam")
	if err != nil {
		t.Fatal(err)
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	var got, bad atomic.Int64
	var last atomic.Int64
	last.Store(-1)
	done := make(chan struct{})
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		i, err := checkPayload(pkt.Payload)
		if prev := last.Swap(int64(i)); err != nil || (prev >= 0 && int64(i) != prev+1) {
			bad.Add(1)
			t.Errorf("packet %d after %d: %v", i, prev, err)
		}
		if got.Add(1) == 400 {
			close(done)
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("received %d packets", got.Load())
	}
	realWrites := under.writes()
	t.Logf("%d packets received intact; %d real writes on the server side", got.Load(), realWrites)
	// 400 packets in 50 access units, plus the RTSP responses and RTCP:
	// unbatched that is over 400 writes.
	if realWrites > 200 {
		t.Errorf("%d real writes for 400 packets: not coalesced", realWrites)
	}
	c.Close()
	checkFlushersExit(t, over)
}

// checkFlushersExit waits until the server has closed every Conn it
// accepted, which Close makes wait for the flusher.
func checkFlushersExit(t *testing.T, over *recordingListener) {
	over.mu.Lock()
	conns := append([]*Conn(nil), over.conns...)
	over.mu.Unlock()
	for _, bc := range conns {
		select {
		case <-bc.exited:
		case <-time.After(10 * time.Second):
			t.Fatal("a flusher outlived its connection")
		}
	}
}

package srt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"testing"

	srt "github.com/datarhei/gosrt"

	"github.com/visiongate/visiongate/gateway/publish"
)

// TestHandshakeRefusals checks the reject reason each refusal sends, with
// gosrt's client, which reports it.
func TestHandshakeRefusals(t *testing.T) {
	b := newBroker(t, publish.Policy{}, alice, "cam1", "cam2", "cam3", "cam4")
	s := startServer(t, b, nil)
	for _, tc := range []struct {
		streamID string
		reason   srt.RejectionReason // 0: accepted
	}{
		{"", srt.REJX_BAD_REQUEST},
		{"cam1", srt.REJX_BAD_REQUEST},
		{"publish:cam1:alice", srt.REJX_BAD_REQUEST},
		{"publish:../etc", srt.REJX_BAD_REQUEST},
		{"read:cam1:alice:s3cret", srt.REJX_BAD_MODE},
		{"#!::r=cam1,u=alice,s=s3cret", srt.REJX_BAD_MODE},
		{"publish:cam1", srt.REJX_UNAUTHORIZED},
		{"publish:cam1:alice:wrong", srt.REJX_UNAUTHORIZED},
		{"publish:nosuch:alice:s3cret", srt.REJX_NOTFOUND},
		{"publish:cam1:alice:s3cret", 0},
		{"#!::r=cam2,m=publish,u=alice,s=s3cret", 0},
		{"#!::h=example.com,r=cam3,m=publish,t=stream,u=alice,s=s3cret", 0},
	} {
		t.Run(fmt.Sprintf("%q", tc.streamID), func(t *testing.T) {
			c, err := dial(t, s.ListenAddr(), tc.streamID, nil)
			if tc.reason != 0 {
				wantRejected(t, err, tc.reason)
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			c.Close()
		})
	}
}

func TestOverConnectionLimit(t *testing.T) {
	b := publish.New(publish.Options{MaxConnections: 1,
		Lookup: func(string) (publish.Policy, bool) { return publish.Policy{}, true }})
	t.Cleanup(b.Close)
	s := startServer(t, b, nil)
	if _, err := dial(t, s.ListenAddr(), "publish:cam1", nil); err != nil {
		t.Fatalf("first dial: %v", err)
	}
	_, err := dial(t, s.ListenAddr(), "publish:cam2", nil)
	wantRejected(t, err, srt.REJX_OVERLOAD)
}

func TestPassphrase(t *testing.T) {
	const pass = "correct horse battery"
	b := newBroker(t, publish.Policy{}, nil, "cam")
	open := startServer(t, b, nil)
	locked := startServer(t, b, func(s *Server) { s.Passphrase = pass })
	with := func(p string) func(*srt.Config) { return func(c *srt.Config) { c.Passphrase = p } }

	_, err := dial(t, open.ListenAddr(), "publish:cam", with(pass))
	wantRejected(t, err, srt.REJ_UNSECURE)
	_, err = dial(t, locked.ListenAddr(), "publish:cam", nil)
	wantRejected(t, err, srt.REJ_UNSECURE)
	_, err = dial(t, locked.ListenAddr(), "publish:cam", with("wrong horse battery"))
	wantRejected(t, err, srt.REJ_BADSECRET)

	sk := startSink(t, b, "cam", 7*tsPacketSize)
	c, err := dial(t, locked.ListenAddr(), "publish:cam", with(pass))
	if err != nil {
		t.Fatalf("dial with the passphrase: %v", err)
	}
	if _, err := c.Write(tsPackets(7)); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, sk.reached, "the decrypted chunk"); !isNullPackets(got.data) {
		t.Error("the decrypted data is not what was sent")
	}
	c.Close()
	waitFor(t, sk.ended, "the gosrt publisher to leave")

	// libsrt encrypts too: ffmpeg, with and without the passphrase.
	if err := startFFmpeg(t, locked.ListenAddr(), "publish:cam", "").waitExit(t); err == nil {
		t.Error("ffmpeg without the passphrase exited cleanly")
	}
	startFFmpeg(t, locked.ListenAddr(), "publish:cam", "&passphrase="+url.QueryEscape(pass))
	waitFor(t, sk.reached, "ffmpeg's encrypted stream")
}

func isNullPackets(b []byte) bool { return string(b) == string(tsPackets(len(b)/tsPacketSize)) }

func TestRejectReasons(t *testing.T) {
	for err, want := range map[error]srt.RejectionReason{
		ErrPassphrase:                srt.REJ_BADSECRET,
		ErrEncryption:                srt.REJ_UNSECURE,
		ErrNotPublish:                srt.REJX_BAD_MODE,
		ErrStreamID:                  srt.REJX_BAD_REQUEST,
		publish.ErrUnauthorized:      srt.REJX_UNAUTHORIZED,
		publish.ErrNoSource:          srt.REJX_NOTFOUND,
		publish.ErrBusy:              srt.REJX_CONFLICT,
		publish.ErrTooMany:           srt.REJX_OVERLOAD,
		publish.ErrBadStream:         srt.REJX_UNACCEPTABLE,
		publish.ErrGatewayClosed:     srt.REJ_CLOSE,
		errors.New("something else"): srt.REJX_ISE,
	} {
		if got := rejectReason(fmt.Errorf("wrapped: %w", err)); got != want {
			t.Errorf("rejectReason(%v) = %d, want %d", err, got, want)
		}
	}
}

// TestHostileDatagrams throws junk and truncated handshakes at the
// listener; a real caller must still get through.
func TestHostileDatagrams(t *testing.T) {
	b := newBroker(t, publish.Policy{}, nil, "cam")
	s := startServer(t, b, nil)
	u, err := net.Dial("udp", s.ListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	// A control packet header: handshake (type 0), to socket 0.
	handshake := []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for i := range 500 {
		d := make([]byte, rng.IntN(1500))
		for j := range d {
			d[j] = byte(rng.Uint32())
		}
		if i%2 == 0 && len(d) >= len(handshake) {
			copy(d, handshake)
		}
		if _, err := u.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	sk := startSink(t, b, "cam", 7*tsPacketSize)
	// gosrt works through the junk's backlog first: a caller that times
	// out meanwhile tries again, as ffmpeg's would.
	var c srt.Conn
	for try := 0; ; try++ {
		if c, err = dial(t, s.ListenAddr(), "publish:cam", nil); err == nil || try == 3 {
			break
		}
	}
	if err != nil {
		t.Fatalf("dial after the junk: %v", err)
	}
	if _, err := c.Write(tsPackets(7)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, sk.reached, "data after the junk")
}

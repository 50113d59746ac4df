package rtspin

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"go.uber.org/goleak"

	"github.com/visiongate/visiongate/internal/testcam"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var clip struct {
	sync.Once
	aus [][][]byte
}

// clipAUs is a 320x240 25 fps H.264 clip (testcam's), made once.
func clipAUs(t *testing.T) [][][]byte {
	clip.Do(func() { clip.aus = testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25}).AUs })
	if clip.aus == nil {
		t.Fatal("no clip")
	}
	return clip.aus
}

// serverOpts shape a test camera that testcam does not offer.
type serverOpts struct {
	user, pass string
	methods    []auth.VerifyMethod
	tls        *tls.Config
	inBandOnly bool   // no parameter sets in the SDP
	sps        []byte // replaces the clip's SPS, in band too
	frames     int    // stop sending after so many (0: never)
	medias     []*description.Media
}

// testServer is a gortsplib camera over TCP (and TLS) only.
type testServer struct {
	o        serverOpts
	url      string
	aus      [][][]byte
	srv      *gortsplib.Server
	stream   *gortsplib.ServerStream
	stop     chan struct{}
	wg       sync.WaitGroup
	sessions atomic.Int64
}

func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	s := &testServer{o: o, aus: clipAUs(t), stop: make(chan struct{})}
	if o.sps != nil {
		s.aus = withSPS(s.aus, o.sps)
	}
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: "127.0.0.1:0", TLSConfig: o.tls, AuthMethods: o.methods}
	if err := s.srv.Start(); err != nil {
		t.Fatal(err)
	}
	scheme := "rtsp"
	if o.tls != nil {
		scheme = "rtsps"
	}
	s.url = fmt.Sprintf("%s://%s/cam", scheme, s.srv.NetListener().Addr())
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	if !o.inBandOnly {
		forma.SPS, forma.PPS = s.aus[0][0], s.aus[0][1]
	}
	medias := o.medias
	if medias == nil {
		medias = []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}
	}
	s.stream = &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: medias}}
	if err := s.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	if o.medias == nil {
		s.wg.Add(1)
		go s.play(forma)
	}
	t.Cleanup(func() {
		close(s.stop)
		s.wg.Wait()
		s.stream.Close()
		s.srv.Close()
	})
	return s
}

// withSPS replaces the SPS of every unit.
func withSPS(aus [][][]byte, sps []byte) [][][]byte {
	out := make([][][]byte, len(aus))
	for i, au := range aus {
		for _, n := range au {
			if n[0]&0x1f == 7 {
				n = sps
			}
			out[i] = append(out[i], n)
		}
	}
	return out
}

func (s *testServer) play(forma *format.H264) {
	defer s.wg.Done()
	enc, err := forma.CreateEncoder()
	if err != nil {
		panic(err)
	}
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for i := 0; s.o.frames == 0 || i < s.o.frames; i++ {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		pkts, err := enc.Encode(s.aus[i%len(s.aus)])
		if err != nil {
			panic(err)
		}
		for _, p := range pkts {
			p.Timestamp = uint32(i * 3600)
			_ = s.stream.WritePacketRTP(s.stream.Desc.Medias[0], p)
		}
	}
}

func (s *testServer) OnSessionOpen(*gortsplib.ServerHandlerOnSessionOpenCtx)   { s.sessions.Add(1) }
func (s *testServer) OnSessionClose(*gortsplib.ServerHandlerOnSessionCloseCtx) { s.sessions.Add(-1) }

// authorized checks the credentials as a camera does: 401 with the
// challenge, gortsplib closing the connection after a wrong one.
func (s *testServer) authorized(conn *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if s.o.user == "" || conn.VerifyCredentials(req, s.o.user, s.o.pass) {
		return nil, nil
	}
	return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
}

func (s *testServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := s.authorized(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

func (s *testServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := s.authorized(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

func (s *testServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// deadCamera is a camera that stops answering: mute answers nothing at
// all, else it answers up to PLAY (TCP interleaved) and then neither
// sends nor reads, as a camera that froze or lost its network.
func deadCamera(t *testing.T, mute bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "rtsp://" + ln.Addr().String() + "/cam"
	aus := clipAUs(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if !mute {
					answerUntilPlay(c, url, aus[0][0], aus[0][1])
				}
				<-stop
			}()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		wg.Wait()
	})
	return url
}

func answerUntilPlay(c net.Conn, url string, sps, pps []byte) {
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
		extra, body := "", ""
		switch method {
		case "OPTIONS":
			extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
		case "DESCRIBE":
			b64 := base64.StdEncoding.EncodeToString
			body = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=dead\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
				"m=video 0 RTP/AVP 96\r\na=control:trackID=0\r\na=rtpmap:96 H264/90000\r\n" +
				"a=fmtp:96 packetization-mode=1;sprop-parameter-sets=" + b64(sps) + "," + b64(pps) + "\r\n"
			extra = fmt.Sprintf("Content-Type: application/sdp\r\nContent-Base: %s/\r\nContent-Length: %d\r\n", url, len(body))
		case "SETUP":
			extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678;timeout=60\r\n"
		default:
			extra = "Session: 12345678\r\n"
		}
		fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\n%s\r\n%s", hdr.Get("Cseq"), extra, body)
		if method == "PLAY" {
			return
		}
	}
}

// testPKI is a CA made for one test and a server certificate it signed
// for 127.0.0.1: a camera with its own certificates.
type testPKI struct {
	caFile string
	server tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := key(), key()
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test camera CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "camera"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testPKI{caFile: caFile, server: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: srvKey}}
}

package transcode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/visiongate/visiongate/internal/testnet"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/internal/testmedia"
)

// testPKI is a CA made for one test and a server certificate it signed
// for 127.0.0.1 and localhost: a camera with its own certificates.
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
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
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

// Issue 13 item 3: an https camera with a certificate the system does not
// trust fails with a TLS error by default, and plays with ca_file naming
// its CA or with tls_verify off.
func TestHTTPSCertificateVerification(t *testing.T) {
	pki := newTestPKI(t)
	clip := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 10, Seconds: 1, Container: "ts"})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, clip)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	url := srv.URL + "/cam.ts" // https://127.0.0.1:PORT
	open := func(opts map[string]string) (*Input, error) {
		return OpenInput(t.Context(), InputOptions{URL: url, Options: opts,
			Whitelist: "http,https,tcp,tls,crypto,httpproxy", ConnectTimeout: 10 * time.Second, ReadTimeout: 5 * time.Second})
	}
	in, err := open(nil)
	if err == nil {
		in.Close()
		t.Fatal("a certificate from an unknown CA was accepted")
	}
	if !errors.Is(err, ErrTLSVerify) || !strings.Contains(err.Error(), "certificate verify failed") {
		t.Fatalf("err = %v, want ErrTLSVerify saying certificate verify failed", err)
	}
	for _, opts := range []map[string]string{{"ca_file": pki.caFile}, {"tls_verify": "0"}} {
		in, err := open(opts)
		if err != nil {
			t.Fatalf("%v: %v", opts, err)
		}
		readOne(t, in)
		in.Close()
	}
}

func readOne(t *testing.T, in *Input) {
	t.Helper()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	if err := in.ReadPacket(t.Context(), pkt); err != nil {
		t.Fatalf("ReadPacket: %v", err)
	}
	if pkt.Size() == 0 {
		t.Fatal("empty packet")
	}
}

// libav 5.1 cannot verify rtsps at all: the check before it connects does.
func TestRTSPSCertificateVerification(t *testing.T) {
	pki := newTestPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.server}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var handshakes atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if c.(*tls.Conn).Handshake() == nil {
				handshakes.Add(1)
			}
			c.Close()
		}
	}()
	_, err = OpenInput(t.Context(), InputOptions{URL: "rtsps://user:pw@" + ln.Addr().String() + "/cam",
		Whitelist: "rtsp,rtsps,rtp,srtp,udp,tcp,tls", ConnectTimeout: 5 * time.Second})
	if !errors.Is(err, ErrTLSVerify) {
		t.Fatalf("err = %v, want ErrTLSVerify", err)
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("error shows the password: %v", err)
	}
	if n := handshakes.Load(); n != 0 {
		t.Errorf("%d TLS sessions completed with the impostor; credentials could follow", n)
	}
}

// denyLoopback is an egress policy that refuses loopback addresses.
type denyLoopback struct{ asked atomic.Int32 }

func (d *denyLoopback) CheckHost(host string, addrs []netip.Addr) error {
	d.asked.Add(1)
	for _, a := range addrs {
		if a.Unmap().IsLoopback() {
			return fmt.Errorf("%s resolves to %s, a denied network", host, a)
		}
	}
	return nil
}

// Issue 13 item 14: the egress check runs after resolving the host name,
// and a refused source never connects.
func TestEgressCheckedAfterResolving(t *testing.T) {
	port, accepted := testnet.CountingListener(t)
	policy := &denyLoopback{}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		_, err := OpenInput(t.Context(), InputOptions{URL: "rtsp://" + net.JoinHostPort(host, port) + "/cam",
			Whitelist: "rtsp,rtp,srtp,udp,tcp", ConnectTimeout: 5 * time.Second, Egress: policy})
		if !errors.Is(err, ErrEgressDenied) || !strings.Contains(err.Error(), "denied network") {
			t.Fatalf("%s: err = %v, want ErrEgressDenied", host, err)
		}
	}
	if policy.asked.Load() != 2 || accepted.Load() != 0 {
		t.Fatalf("policy asked %d times, %d connections made; want 2 and 0", policy.asked.Load(), accepted.Load())
	}
}

// Issue 13 item 14: udp://127.0.0.1:PORT listens on 127.0.0.1, not on
// every interface.
func TestUDPBindsTheURLAddress(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := OpenInput(ctx, InputOptions{URL: fmt.Sprintf("udp://127.0.0.1:%d", port), Whitelist: "udp",
			ConnectTimeout: 20 * time.Second})
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, ErrInterrupted) {
			t.Errorf("OpenInput after cancel: %v", err)
		}
	}()
	local := waitUDPSocket(t, port, done)
	if local != "0100007F" {
		t.Fatalf("udp input bound to %s (hex, /proc/net/udp), want 127.0.0.1 (0100007F)", local)
	}
}

// waitUDPSocket returns the local address, in /proc/net/udp's hex, of
// the socket bound to port, once there is one.
func waitUDPSocket(t *testing.T, port int, done <-chan error) string {
	t.Helper()
	suffix := fmt.Sprintf(":%04X", port)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 1 && strings.HasSuffix(f[1], suffix) {
				return strings.TrimSuffix(f[1], suffix)
			}
		}
		select {
		case err := <-done:
			t.Fatalf("OpenInput returned before binding: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no socket on udp port %d", port)
	return ""
}

// Issue 13 item 7: a camera whose picture is larger than 8192 either way
// is refused when opened, with a typed error.
func TestInputLargerThanMaxIsRefused(t *testing.T) {
	in, err := OpenInput(t.Context(), InputOptions{URL: "color=size=8200x16:rate=5", Format: "lavfi", Whitelist: "none"})
	if err == nil {
		in.Close()
		t.Fatal("an 8200x16 input was opened")
	}
	var se *SizeError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &se) || se.Width != 8200 ||
		!strings.Contains(err.Error(), "larger than 8192x8192") {
		t.Fatalf("err = %v, want a SizeError for 8200x16", err)
	}
}

// ... and when it grows past the bound mid-stream, the decoder drops the
// picture with the same error.
func TestDecoderRefusesPictureGrownTooLarge(t *testing.T) {
	dir := t.TempDir()
	var stream []byte
	for i, size := range []string{"64x16", "8200x16"} {
		out := filepath.Join(dir, fmt.Sprintf("%d.mjpeg", i))
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=size="+size+":rate=1",
			"-frames:v", "1", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-f", "mjpeg", out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v: %s", err, msg)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, b...)
	}
	path := filepath.Join(dir, "grows.mjpeg")
	if err := os.WriteFile(path, stream, 0o600); err != nil {
		t.Fatal(err)
	}
	in := openFile(t, path, InputOptions{Format: "mjpeg"})
	dec, err := NewDecoder(in.Info().Params, "none")
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var sizes []string
	var refused error
	pkt, frame := astiav.AllocPacket(), astiav.AllocFrame()
	defer pkt.Free()
	defer frame.Free()
	for in.ReadPacket(t.Context(), pkt) == nil {
		if err := dec.SendPacket(pkt); err != nil {
			t.Fatal(err)
		}
		pkt.Unref()
		if err := dec.ReceiveFrame(frame); err == nil {
			sizes = append(sizes, fmt.Sprintf("%dx%d", frame.Width(), frame.Height()))
			frame.Unref()
		} else if !errors.Is(err, astiav.ErrEagain) {
			refused = err
		}
	}
	if len(sizes) != 1 || sizes[0] != "64x16" || !errors.Is(refused, ErrTooLarge) {
		t.Fatalf("decoded %v, error %v; want 64x16 then ErrTooLarge", sizes, refused)
	}
}

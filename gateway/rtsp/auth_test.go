package rtsp

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/output"
)

// fakeThrottle blocks every address once it has seen max failures.
type fakeThrottle struct {
	mu    sync.Mutex
	max   int
	fails map[netip.Addr]int
}

func (f *fakeThrottle) Blocked(ip netip.Addr) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return 1500 * time.Millisecond, f.fails[ip] >= f.max
}

func (f *fakeThrottle) Fail(ip netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[ip]++
}

func (f *fakeThrottle) count(ip string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fails[netip.MustParseAddr(ip)]
}

func servedCam(t *testing.T, mod func(*Server)) *Server {
	t.Helper()
	s := startServer(t, mod)
	h := hub.New("cam")
	s.Attach(output.Source{Name: "cam", Units: h})
	publish(h, newSynth(), 1, 0) // an IDR: DESCRIBE answers at once
	return s
}

func describeAs(t *testing.T, s *Server, userinfo string) base.StatusCode {
	t.Helper()
	c := newClient(t, s, gortsplib.ProtocolTCP)
	u, err := base.ParseURL("rtsp://" + userinfo + s.ListenAddr() + "/cam")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Describe(u); err != nil {
		if code := statusCode(err); code != 0 {
			return code
		}
		t.Fatalf("DESCRIBE as %q: %v", userinfo, err)
	}
	return base.StatusOK
}

// Every account reads, with whichever method gortsplib's client picks
// (Digest when offered); the AnyUser account takes any user name. Only
// wrong credentials count as failures, and a blocked address gets 503
// with Retry-After even with right ones.
func TestAccountsAndThrottle(t *testing.T) {
	th := &fakeThrottle{max: 2, fails: map[netip.Addr]int{}}
	s := servedCam(t, func(s *Server) {
		s.Accounts = []Account{{User: "admin", Pass: "secret"}, {Pass: "T0KEN", AnyUser: true},
			{User: "viewer", Pass: "look"}}
		s.Throttle = th
	})
	cases := []struct {
		userinfo string
		want     base.StatusCode
	}{
		{"", base.StatusUnauthorized},
		{"admin:secret@", base.StatusOK},
		{"viewer:look@", base.StatusOK},
		{"anyone:T0KEN@", base.StatusOK},
		{"admin:T0KEN@", base.StatusOK},
		{"viewer:secret@", base.StatusUnauthorized},
	}
	for _, c := range cases {
		if got := describeAs(t, s, c.userinfo); got != c.want {
			t.Errorf("DESCRIBE as %q = %d, want %d", c.userinfo, got, c.want)
		}
	}
	if n := th.count("127.0.0.1"); n != 1 {
		t.Errorf("%d failures counted, want 1 (only the wrong password)", n)
	}
	describeAs(t, s, "admin:nope@")
	status, header := rawDescribe(t, s.ListenAddr(), "admin", "secret")
	if status != "RTSP/1.0 503 Service Unavailable" || header["retry-after"] != "2" {
		t.Errorf("blocked address with right credentials: %q %v, want 503 with Retry-After: 2", status, header)
	}
}

// rawDescribe sends one DESCRIBE with Basic credentials and returns the
// status line and headers (names in lower case).
func rawDescribe(t *testing.T, addr, user, pass string) (string, map[string]string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := base.Request{Method: base.Describe, URL: mustURL(t, "rtsp://"+addr+"/cam"),
		Header: base.Header{"CSeq": base.HeaderValue{"1"}}}
	req.Header["Authorization"] = base.HeaderValue{"Basic " + basic(user, pass)}
	b, _ := req.Marshal()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	header := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil || strings.TrimSpace(line) == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		header[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	return strings.TrimSpace(status), header
}

func mustURL(t *testing.T, s string) *base.URL {
	u, err := base.ParseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A listener that dies stops gortsplib's server for good: the server
// says so through OnFail and Err instead of going on deaf.
func TestListenerDeathIsReported(t *testing.T) {
	var ln net.Listener
	failed := make(chan error, 1)
	s := startServer(t, func(s *Server) {
		s.Listen = func(network, addr string) (net.Listener, error) {
			var err error
			ln, err = net.Listen(network, addr)
			return ln, err
		}
		s.OnFail = func(err error) { failed <- err }
	})
	if s.Err() != nil {
		t.Fatalf("Err before anything failed: %v", s.Err())
	}
	ln.Close()
	select {
	case err := <-failed:
		var le *ListenerError
		if !errors.As(err, &le) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("OnFail got %v, want a *ListenerError wrapping net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnFail not called after the listener died")
	}
	if !errors.Is(s.Err(), net.ErrClosed) {
		t.Errorf("Err = %v", s.Err())
	}
}

// Close is not a failure.
func TestCloseIsNotAFailure(t *testing.T) {
	called := make(chan error, 1)
	s := startServer(t, func(s *Server) { s.OnFail = func(err error) { called <- err } })
	s.Close()
	select {
	case err := <-called:
		t.Errorf("OnFail(%v) after Close", err)
	default:
	}
	if s.Err() != nil {
		t.Errorf("Err after Close = %v", s.Err())
	}
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

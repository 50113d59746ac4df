package app

import (
	"bufio"
	"encoding/json"
	"errors"
	"github.com/visiongate/visiongate/internal/testnet"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/gateway/rtsp"
)

// clientFrom is an HTTP client whose connections come from local.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// hungUp reports whether the server closed c (EOF or reset) within a few
// seconds, rather than leaving it open.
func hungUp(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := io.ReadAll(c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// httpGet sends one keep-alive request on c and reads the answer.
func httpGet(c net.Conn, br *bufio.Reader, path, authorization string) (*http.Response, error) {
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if authorization != "" {
		req += "Authorization: " + authorization + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// Issue 13 item 5: clients that got a 401 and kept their connections
// open filled http_connections and /healthz stopped answering. A 401 now
// closes the connection, so /healthz answers.
func TestHealthzAnswersAfter401ClientsFillTheLimit(t *testing.T) {
	g := startGateway(t, "auth: {token: T0KEN}\nsources: []\n"+
		"limits: {http_connections: 50, http_connections_per_address: -1, auth_failures_per_minute: -1}\n")
	addr := g.HTTPAddr()
	kept := 0
	for i := range 50 {
		c := testnet.DialFrom(t, "127.0.0.1", addr)
		resp, err := httpGet(c, bufio.NewReader(c), "/api/v1/sources", "")
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("client %d: %v %v, want 401", i, resp, err)
		}
		if !resp.Close {
			kept++
		}
	}
	if kept > 0 {
		t.Errorf("%d of 50 answers of 401 kept the connection (no Connection: close)", kept)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(g.base + "/healthz")
	if err != nil {
		t.Fatalf("/healthz with 50 refused clients holding their connections: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
}

// A connection that never finishes its headers is closed after the short
// header timeout, and headers over 16 KiB are refused.
func TestHTTPHeaderLimits(t *testing.T) {
	g := startGateway(t, "sources: []\n")
	c := testnet.DialFrom(t, "127.0.0.1", g.HTTPAddr())
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") // and nothing more
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(httpHeaderTimeout + 3*time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("slow headers: %v after %v, want the server to hang up", err, time.Since(start))
	}
	if d := time.Since(start); d > httpHeaderTimeout+time.Second {
		t.Errorf("hung up after %v", d)
	}
	req, _ := http.NewRequest("GET", g.base+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 32<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("32 KiB of headers: %d, want 431", resp.StatusCode)
	}
}

// One address may hold http_connections_per_address connections; the next
// gets 429 and is closed, while other addresses are served.
func TestHTTPConnectionsPerAddress(t *testing.T) {
	g := startGateway(t, "sources: []\nlimits: {http_connections_per_address: 3}\n")
	addr := g.HTTPAddr()
	var held []net.Conn
	for i := range 3 {
		c := testnet.DialFrom(t, "127.0.0.1", addr)
		if resp, err := httpGet(c, bufio.NewReader(c), "/healthz", ""); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d within the limit: %v %v", i, resp, err)
		}
		held = append(held, c) // kept alive, idle
	}
	over := testnet.DialFrom(t, "127.0.0.1", addr)
	resp, err := httpGet(over, bufio.NewReader(over), "/healthz", "")
	if err == nil && resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("fourth connection: %d, want 429", resp.StatusCode)
	}
	if !hungUp(over) {
		t.Error("fourth connection left open")
	}
	if resp, err := clientFrom("127.0.0.2").Get(g.base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("another address: %v %v", resp, err)
	}
	for i, c := range held { // untouched
		if resp, err := httpGet(c, bufio.NewReader(c), "/healthz", ""); err != nil || resp.StatusCode != 200 {
			t.Errorf("held connection %d: %v %v", i, resp, err)
		}
	}
}

// rtspAlive reports whether c answers an OPTIONS.
func rtspAlive(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "RTSP/1.0 200")
}

// Issue 13 item 5: 3000 idle RTSP connections were all accepted. Now the
// connection after rtsp_connections_per_address from one address, and
// the one after rtsp_connections in all, is closed at once; the others
// stay.
func TestRTSPConnectionCaps(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		g := startGateway(t, "sources: []\nlimits: {rtsp_connections_per_address: 2}\n")
		a, b := testnet.DialFrom(t, "127.0.0.1", g.RTSPAddr()), testnet.DialFrom(t, "127.0.0.1", g.RTSPAddr())
		if !hungUp(testnet.DialFrom(t, "127.0.0.1", g.RTSPAddr())) {
			t.Error("third connection from one address left open")
		}
		if !rtspAlive(testnet.DialFrom(t, "127.0.0.2", g.RTSPAddr())) {
			t.Error("another address refused")
		}
		if !rtspAlive(a) || !rtspAlive(b) {
			t.Error("connections within the limit dropped")
		}
	})
	t.Run("global", func(t *testing.T) {
		g := startGateway(t, "sources: []\nlimits: {rtsp_connections: 3, rtsp_connections_per_address: -1}\n")
		var held []net.Conn
		for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
			held = append(held, testnet.DialFrom(t, ip, g.RTSPAddr()))
		}
		if !hungUp(testnet.DialFrom(t, "127.0.0.4", g.RTSPAddr())) {
			t.Error("connection over rtsp_connections left open")
		}
		for i, c := range held {
			if !rtspAlive(c) {
				t.Errorf("connection %d within the limit dropped", i)
			}
		}
	})
}

// Issue 13 item 5: gortsplib's listener stopped for good, silently, while
// /healthz said 200. Now the app fails loudly (Failed) and /healthz
// answers 503 naming the RTSP listener.
func TestDeadRTSPListenerShowsInHealthz(t *testing.T) {
	g := startGateway(t, "sources: []\n")
	if code, _ := g.do("GET", "/healthz", ""); code != 200 {
		t.Fatalf("/healthz before: %d", code)
	}
	g.rtspLn.Listener.Close() // the test hook: the listener dies under gortsplib
	select {
	case err := <-g.Failed():
		var le *rtsp.ListenerError
		if !errors.As(err, &le) {
			t.Errorf("Failed() = %v, want an *rtsp.ListenerError", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dead RTSP listener was not reported on Failed()")
	}
	code, b := g.do("GET", "/healthz", "")
	var body struct {
		Status string
		Failed map[string]string
	}
	if code != http.StatusServiceUnavailable || json.Unmarshal(b, &body) != nil || body.Failed["rtsp"] == "" {
		t.Errorf("/healthz = %d %s, want 503 naming rtsp", code, b)
	}
}

// Failed logins from one address, over HTTP and RTSP together, get it
// refused (429 with Retry-After; RTSP 503) even with the right password;
// another address is not locked out.
func TestFailedLoginsThrottledPerAddress(t *testing.T) {
	g := startGateway(t, "auth: {username: admin, password: secret}\nsources: []\n")
	wrong, right := basicAuth("admin", "guess"), basicAuth("admin", "secret")
	for range 5 {
		c := testnet.DialFrom(t, "127.0.0.1", g.HTTPAddr())
		if resp, err := httpGet(c, bufio.NewReader(c), "/api/v1/sources", wrong); err != nil || resp.StatusCode != 401 {
			t.Fatalf("wrong password over HTTP: %v %v", resp, err)
		}
		if code, err := rawDescribe(g.RTSPAddr(), "/a", wrong); err != nil || code != 401 {
			t.Fatalf("wrong password over RTSP: %d %v", code, err)
		}
	}
	c := testnet.DialFrom(t, "127.0.0.1", g.HTTPAddr())
	resp, err := httpGet(c, bufio.NewReader(c), "/api/v1/sources", right)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after 10 failures, the right password over HTTP: %v %v, want 429 with Retry-After", resp, err)
	}
	if code, err := rawDescribe(g.RTSPAddr(), "/a", right); code != 503 {
		t.Errorf("after 10 failures, the right password over RTSP: %d %v, want 503", code, err)
	}
	req, _ := http.NewRequest("GET", g.base+"/api/v1/sources", nil)
	req.Header.Set("Authorization", right)
	if resp, err := clientFrom("127.0.0.2").Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("another address over HTTP: %v %v", resp, err)
	}
	// Past authentication, an unknown path: 404.
	if code, err := rawDescribeFrom("127.0.0.2", g.RTSPAddr(), "/a", right); code != 404 {
		t.Errorf("another address over RTSP: %d %v, want 404", code, err)
	}
}

// DNS rebinding: a page on evil.example whose name now resolves to
// 127.0.0.1 sends "Host: evil.example"; an install listening on loopback
// refuses it. The loopback names and public_host pass.
func TestHostCheckOnLoopback(t *testing.T) {
	g := startGateway(t, "sources: []\npublic_host: cam.example.org\n")
	_, port, _ := net.SplitHostPort(g.HTTPAddr())
	cases := map[string]int{"evil.example": 403, "evil.example:" + port: 403,
		"127.0.0.1:" + port: 200, "localhost:" + port: 200, "[::1]:" + port: 200, "cam.example.org": 200}
	for host, want := range cases {
		req, _ := http.NewRequest("GET", g.base+"/api/v1/sources", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
	open := startGateway(t, "sources: []\nauth: {http_allowed_hosts: [\"*\"]}\n")
	req, _ := http.NewRequest("GET", open.base+"/api/v1/sources", nil)
	req.Host = "evil.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf(`http_allowed_hosts: ["*"]: %v %v`, resp, err)
	}
}

// --pprof warns beyond loopback: LoopbackOnly decides.
func TestLoopbackOnly(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6060": true, "localhost:6060": true, "[::1]:6060": true, "127.0.0.2:6060": true,
		":6060": false, "0.0.0.0:6060": false, "[::]:6060": false, "192.168.1.2:6060": false, "6060": false,
	} {
		if got := LoopbackOnly(addr); got != want {
			t.Errorf("LoopbackOnly(%q) = %v, want %v", addr, got, want)
		}
	}
}

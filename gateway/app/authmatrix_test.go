package app

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/web"
)

// cred is one kind of credential a client may give.
type cred struct {
	name       string
	user, pass string // HTTP Basic, RTSP userinfo
	bearer     string // HTTP only: RTSP has no bearer tokens
}

var matrixCreds = []cred{
	{name: "none"},
	{name: "wrong", user: "admin", pass: "wrong"},
	{name: "read", user: "viewer", pass: "look"},
	{name: "admin", user: "admin", pass: "secret"},
	{name: "token-bearer", bearer: "T0KEN"},
	{name: "token-basic", user: "anyone", pass: "T0KEN"},
}

// authSetup is an auth configuration and the credential kinds that grant
// admin and read access under it.
type authSetup struct {
	name, yaml  string
	admin, read []string
}

var authSetups = []authSetup{
	{name: "open", yaml: "", admin: []string{"none", "wrong", "read", "admin", "token-bearer", "token-basic"}},
	{name: "token", yaml: "auth: {token: T0KEN}\n", admin: []string{"token-bearer", "token-basic"}},
	{name: "admin", yaml: "auth: {username: admin, password: secret}\n", admin: []string{"admin"}},
	{name: "admin+read", yaml: "auth: {username: admin, password: secret, read_username: viewer, read_password: look}\n",
		admin: []string{"admin"}, read: []string{"read"}},
	{name: "token+read", yaml: "auth: {token: T0KEN, read_username: viewer, read_password: look}\n",
		admin: []string{"token-bearer", "token-basic"}, read: []string{"read"}},
}

func (s authSetup) grants(c cred, p protocol) web.Level {
	switch {
	case s.yaml == "":
		return web.LevelAdmin // nothing configured: open
	case p.rtsp && c.bearer != "":
		return web.LevelNone
	case slices.Contains(s.admin, c.name):
		return web.LevelAdmin
	case slices.Contains(s.read, c.name):
		return web.LevelRead
	}
	return web.LevelNone
}

// protocol probes one route; allowed reports whether it was served, and
// an error says the answer was neither "served" nor "refused".
type protocol struct {
	name  string
	need  web.Level
	rtsp  bool
	probe func(g *gateway, c cred) (allowed bool, err error)
}

var protocols = []protocol{
	{name: "rtsp", need: web.LevelRead, rtsp: true, probe: probeRTSP},
	{name: "hls", need: web.LevelRead, probe: httpProbe("GET", "/hls/a/index.m3u8", 200, "#EXTM3U")},
	{name: "mjpeg", need: web.LevelRead, probe: httpProbe("GET", "/mjpeg/a", 200, "--")},
	{name: "snapshot", need: web.LevelRead, probe: httpProbe("GET", "/snapshot/a.jpg", 200, "\xff\xd8")},
	{name: "events", need: web.LevelRead, probe: httpProbe("GET", "/api/v1/sources/a/events", 200, ": connected")},
	{name: "detections", need: web.LevelRead, probe: httpProbe("GET", "/api/v1/sources/a/detections", 200, "{")},
	{name: "api-get", need: web.LevelAdmin, probe: httpProbe("GET", "/api/v1/sources", 200, "{")},
	// A POST the handler refuses (400) has passed authentication.
	{name: "api-post", need: web.LevelAdmin, probe: httpProbe("POST", "/api/v1/sources", 400, "{")},
	{name: "metrics", need: web.LevelAdmin, probe: httpProbe("GET", "/metrics", 200, "#")},
	{name: "page", need: web.LevelAdmin, probe: httpProbe("GET", "/", 200, "<")},
}

// The one rule, for every protocol, credential kind and auth configuration:
// with any credential configured, every route but /healthz needs one;
// admin credentials (user and password, the token as a bearer or as a
// Basic password with any user name) grant everything; the read account
// grants the media and event routes only; nothing else grants anything.
func TestAuthMatrix(t *testing.T) {
	for _, setup := range authSetups {
		t.Run(setup.name, func(t *testing.T) {
			g := startGateway(t, setup.yaml+"allow_local_sources: true\n"+
				"limits: {auth_failures_per_minute: -1}\n"+ // this test fails on purpose, a lot
				"sources:\n  - name: a\n    url: \"lavfi:testsrc2=size=320x240:rate=25\"\n"+
				"    vision: {detector: motion, fps: 5}\n")
			g.waitFramesAfter("a", 0, 15*time.Second)
			for _, p := range protocols {
				for _, c := range matrixCreds {
					want := setup.grants(c, p) >= p.need
					allowed, err := p.probe(g, c)
					if err != nil {
						t.Errorf("%s as %s: %v", p.name, c.name, err)
					} else if allowed != want {
						t.Errorf("%s as %s: allowed %v, want %v", p.name, c.name, allowed, want)
					}
				}
			}
			if code, _ := g.do("GET", "/healthz", ""); code != 200 {
				t.Errorf("/healthz without credentials: %d", code)
			}
		})
	}
}

// httpProbe requests path: the wanted status with a body starting with
// prefix is "allowed", a 401 with a challenge "refused".
func httpProbe(method, path string, okCode int, prefix string) func(*gateway, cred) (bool, error) {
	return func(g *gateway, c cred) (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel() // ends MJPEG and SSE streams
		body := io.Reader(nil)
		if method == "POST" {
			body = strings.NewReader(`{"name":"bad name","url":"rtsp://h/x"}`)
		}
		req, _ := http.NewRequestWithContext(ctx, method, g.base+path, body)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		setCred(req, c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		head := make([]byte, len(prefix))
		_, err = io.ReadFull(resp.Body, head)
		switch {
		case resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != "":
			if !resp.Close { // the refused must not keep a connection slot
				return false, errors.New("401 without Connection: close")
			}
			return false, nil
		case resp.StatusCode == okCode && err == nil && string(head) == prefix:
			return true, nil
		}
		return false, fmt.Errorf("unexpected answer %d %q (%v)", resp.StatusCode, head, err)
	}
}

func setCred(req *http.Request, c cred) {
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	} else if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
}

// probeRTSP describes the source with gortsplib's client (which answers
// the challenge with Digest), or, for a bearer token, sends the DESCRIBE
// by hand with that header.
func probeRTSP(g *gateway, c cred) (bool, error) {
	if c.bearer != "" {
		code, err := rawDescribe(g.RTSPAddr(), "/a", "Bearer "+c.bearer)
		return code == 200, refusedOr(code, err)
	}
	userinfo := ""
	if c.user != "" {
		userinfo = c.user + ":" + c.pass + "@"
	}
	u, err := base.ParseURL("rtsp://" + userinfo + g.RTSPAddr() + "/a")
	if err != nil {
		return false, err
	}
	cl := gortsplib.Client{Scheme: "rtsp", Host: u.Host, ReadTimeout: 10 * time.Second}
	if err := cl.Start(); err != nil {
		return false, err
	}
	defer cl.Close()
	if _, _, err = cl.Describe(u); err == nil {
		return true, nil
	}
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return false, refusedOr(int(bad.Code), nil)
	}
	return false, err
}

// refusedOr accepts 200 and 401 as answers.
func refusedOr(code int, err error) error {
	if err != nil || code == 200 || code == 401 {
		return err
	}
	return fmt.Errorf("RTSP status %d", code)
}

// rawDescribe sends one DESCRIBE with the given Authorization header (none
// when empty) and returns the status code.
func rawDescribe(addr, path, authorization string) (int, error) {
	return rawDescribeFrom("127.0.0.1", addr, path, authorization)
}

func rawDescribeFrom(local, addr, path, authorization string) (int, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "DESCRIBE rtsp://" + addr + path + " RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
	if authorization != "" {
		req += "Authorization: " + authorization + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		return 0, err
	}
	var res base.Response
	if err := res.Unmarshal(bufio.NewReader(conn)); err != nil {
		return 0, err
	}
	return int(res.StatusCode), nil
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// No configuration protects the media and leaves the API open: read
// credentials alone are refused, naming the field and why.
func TestReadCredentialsNeedAdmin(t *testing.T) {
	_, err := config.Parse([]byte("auth: {read_username: viewer, read_password: look}\n"))
	var ve *config.ValidationError
	if !errors.As(err, &ve) || ve.Field != "auth.read_username" || !strings.Contains(err.Error(), "API") {
		t.Errorf("read credentials alone: %v, want a validation error on auth.read_username", err)
	}
	for _, yaml := range []string{
		"auth: {username: admin, password: x, read_username: admin, read_password: y}\n",
		"limits: {rtsp_connections_per_address: -2}\n",
		"auth: {http_allowed_hosts: [\"evil.example/path\"]}\n",
	} {
		if _, err := config.Parse([]byte(yaml)); !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a validation error", yaml, err)
		}
	}
}

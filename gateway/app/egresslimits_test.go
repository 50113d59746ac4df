package app

import (
	"encoding/json"
	"fmt"
	"github.com/visiongate/visiongate/internal/testnet"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testmedia"
)

// Issue 13 item 7: limits.sources caps the sources; beyond it POST answers
// 503 saying which limit, and a removal frees a slot.
func TestSourceLimitThroughAPI(t *testing.T) {
	g := startGateway(t, "limits: {sources: 2}\nsources: []\n")
	post := func(name string) (int, string) {
		code, b := g.do("POST", "/api/v1/sources", fmt.Sprintf(`{"name":%q,"url":"rtsp://127.0.0.1:1/%s"}`, name, name))
		return code, string(b)
	}
	for _, n := range []string{"a", "b"} {
		if code, b := post(n); code != http.StatusCreated {
			t.Fatalf("POST %s = %d %s", n, code, b)
		}
	}
	code, b := post("c")
	var e struct{ Error string }
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(b), &e) != nil ||
		e.Error != "source limit reached (limits.sources: 2)" {
		t.Fatalf("POST over the limit = %d %s, want 503 naming limits.sources", code, b)
	}
	if code, b := g.do("DELETE", "/api/v1/sources/a", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", code, b)
	}
	if code, b := post("c"); code != http.StatusCreated {
		t.Fatalf("POST after a removal = %d %s", code, b)
	}
}

// Issue 13 item 14: denied networks are refused at validation for
// addresses, and after resolving for names; nothing connects.
func TestEgressThroughAPI(t *testing.T) {
	port, accepted := testnet.CountingListener(t)
	g := startGateway(t, "egress: {denied_networks: [127.0.0.0/8, '::1/128']}\nsources: []\n")
	code, b := g.do("POST", "/api/v1/sources", fmt.Sprintf(`{"name":"ip","url":"rtsp://127.0.0.1:%s/x"}`, port))
	if code != http.StatusBadRequest || !strings.Contains(string(b), `"field":"url"`) {
		t.Fatalf("POST to a denied address = %d %s, want 400 on url", code, b)
	}
	code, b = g.do("POST", "/api/v1/sources", fmt.Sprintf(`{"name":"name","url":"rtsp://localhost:%s/x"}`, port))
	if code != http.StatusCreated {
		t.Fatalf("POST by name = %d %s", code, b)
	}
	st := waitLastError(t, g, "name", 10*time.Second)
	if !strings.Contains(st.LastError, "denied network") || accepted.Load() != 0 {
		t.Fatalf("last_error %q, %d connections; want a denied network and none", st.LastError, accepted.Load())
	}
}

// Issue 13 item 3: tls_verify false (API) and ca_file (config file) reach
// the input: the camera with its own certificate plays.
func TestTLSSettingsReachTheInput(t *testing.T) {
	clip := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 10, Seconds: 1, Container: "ts"})
	cam := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, clip)
	}))
	cam.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(cam.Close)
	g := startGateway(t, "sources: []\n")
	body := fmt.Sprintf(`{"name":"off","url":%q,"tls_verify":false}`, cam.URL+"/cam.ts")
	if code, b := g.do("POST", "/api/v1/sources", body); code != http.StatusCreated {
		t.Fatalf("POST = %d %s", code, b)
	}
	// A one-second file plays through in milliseconds and ends, so the
	// proof is decoded frames, not a "running" state a poll could miss.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st := g.status("off"); st.FramesIn > 0 && st.Input.Codec == "h264" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no frame decoded from the TLS camera within 10s: %+v", g.status("off"))
}

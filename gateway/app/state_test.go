package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testcam"
)

// Two state-file entries with one name run one pipeline: after DELETE
// the camera has no session left (an orphaned second pipeline kept one).
func TestStateFileDuplicateRunsOnceAndDeleteEndsIt(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 160, Height: 120, FPS: 25})
	state := filepath.Join(t.TempDir(), "state.json")
	entry := fmt.Sprintf(`{"name":"dup","url":%q,"transport":"tcp"}`, cam.URL)
	if err := os.WriteFile(state, []byte(`{"sources":[`+entry+","+entry+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, "state: "+state+"\nsources: []\n")
	g.waitRunning("dup", 10*time.Second)
	if code, _ := g.do("DELETE", "/api/v1/sources/dup", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cam.Sessions() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := cam.Sessions(); n != 0 {
		t.Errorf("the camera still has %d sessions 5 s after DELETE: a duplicate pipeline runs on", n)
	}
	if b, _ := os.ReadFile(state); strings.Contains(string(b), `"dup"`) {
		t.Errorf("state file after DELETE still names dup:\n%s", b)
	}
}

// A source from the config file deleted through the API stays deleted
// when the gateway restarts with the same config and state; added again
// through the API, it is back after the next restart.
func TestStateFileKeepsConfigSourceDeletedAcrossRestarts(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 160, Height: 120, FPS: 25})
	state := filepath.Join(t.TempDir(), "state.json")
	cfg := fmt.Sprintf("state: %s\nsources:\n  - name: door\n    url: %s\n    transport: tcp\n", state, cam.URL)
	g := startGateway(t, cfg)
	g.waitRunning("door", 10*time.Second)
	if code, _ := g.do("DELETE", "/api/v1/sources/door", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	g = g.restart(cfg)
	if code, b := g.do("GET", "/api/v1/sources/door", ""); code != http.StatusNotFound {
		t.Fatalf("after a restart the deleted config source answers %d %s, want 404", code, b)
	}
	body := fmt.Sprintf(`{"name":"door","url":%q,"transport":"tcp"}`, cam.URL)
	if code, b := g.do("POST", "/api/v1/sources", body); code != http.StatusCreated {
		t.Fatalf("POST = %d %s", code, b)
	}
	g = g.restart(cfg)
	g.waitRunning("door", 10*time.Second)
	var doc struct{ Deleted []json.RawMessage }
	if b, err := os.ReadFile(state); err != nil || json.Unmarshal(b, &doc) != nil || len(doc.Deleted) != 0 {
		t.Errorf("state file after the API re-added door: %v %s", err, b)
	}
}

// restart closes the gateway and starts another on cfg.
func (g *gateway) restart(cfg string) *gateway {
	g.t.Helper()
	if err := g.Close(); err != nil {
		g.t.Fatal(err)
	}
	return startGateway(g.t, cfg)
}

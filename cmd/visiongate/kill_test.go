package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The state file survives kill -9 in the middle of API changes: after
// each kill the gateway restarts with a readable state holding a prefix
// of the changes it acknowledged.
func TestStateFileSurvivesKill9(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("rtsp_rtp_address: \"off\"\nrtsp_rtcp_address: \"off\"\nsources: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	acked := 0
	for round := range 3 {
		cmd := exec.Command(bin, "--config", cfg, "--state", state, "--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0")
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		addr := waitForLog(t, stderr, regexp.MustCompile(`visiongate running" http=(\S+)`))
		if n := countSources(t, addr); n != acked {
			t.Fatalf("round %d: %d sources after restart, %d were acknowledged", round, n, acked)
		}
		// Add sources as fast as the API takes them and kill mid-stream.
		stop := time.After(time.Duration(150+100*round) * time.Millisecond)
	adding:
		for {
			select {
			case <-stop:
				break adding
			default:
			}
			body := fmt.Sprintf(`{"name":"s%d","url":"rtsp://127.0.0.1:9/none"}`, acked)
			resp, err := http.Post("http://"+addr+"/api/v1/sources", "application/json", strings.NewReader(body))
			if err == nil && resp.StatusCode == 201 {
				acked++
			}
			if resp != nil {
				resp.Body.Close()
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		var doc struct{ Sources []json.RawMessage }
		b, err := os.ReadFile(state)
		if err != nil || json.Unmarshal(b, &doc) != nil || len(doc.Sources) != acked {
			t.Fatalf("round %d: state after kill -9 holds %d sources (acknowledged %d): %v", round, len(doc.Sources), acked, err)
		}
	}
	t.Logf("%d acknowledged additions survived 3 kills", acked)
}

func countSources(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/v1/sources")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Sources []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return len(list.Sources)
}

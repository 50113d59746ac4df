package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// The real binary serves a source, then exits 0 within 5 s of SIGTERM.
func TestBinaryRunsAndShutsDownCleanly(t *testing.T) {
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	yaml := "allow_local_sources: true\nrtsp_rtp_address: off\nrtsp_rtcp_address: off\n" +
		"sources:\n  - name: demo\n    url: \"lavfi:testsrc2=size=320x240:rate=25\"\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg, "--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	httpAddr := waitForLog(t, stderr, regexp.MustCompile(`visiongate running" http=(\S+)`))
	waitRunning(t, "http://"+httpAddr+"/api/v1/sources/demo")

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
		t.Logf("exited 0 %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGTERM")
	}
}

var built struct {
	path string
	err  error
}

// buildBinary builds the command once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	if built.path == "" && built.err == nil {
		dir, err := os.MkdirTemp("", "visiongate-bin")
		if err != nil {
			t.Fatal(err)
		}
		built.path = filepath.Join(dir, "visiongate")
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// waitForLog reads log lines until re matches and returns its group; the
// rest of the log is drained in the background.
func waitForLog(t *testing.T, r interface{ Read([]byte) (int, error) }, re *regexp.Regexp) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			if m := re.FindStringSubmatch(s.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case v := <-found:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("binary never logged its listen address")
		return ""
	}
}

func waitRunning(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			var st struct {
				State    string `json:"state"`
				FramesIn int    `json:"frames_in"`
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && st.State == "running" && st.FramesIn > 0 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never running", url)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

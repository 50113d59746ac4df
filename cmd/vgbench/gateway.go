package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"time"
)

// gateway is a visiongate process started by the bench, killed with it.
type gateway struct {
	cmd  *exec.Cmd
	HTTP string
	RTSP string
	done chan error
}

var runningRe = regexp.MustCompile(`msg="visiongate running" http=(\S+) rtsp=(\S+)`)

// startGateway runs bin with config on loopback ports chosen by the
// kernel, logging to logPath, and waits for it to listen.
func startGateway(bin, config, logPath string) (*gateway, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config", config, "--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gateway{cmd: cmd, done: make(chan error, 1)}
	go func() { g.done <- cmd.Wait() }()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-g.done:
			return nil, fmt.Errorf("visiongate exited: %v (see %s)", err, logPath)
		case <-time.After(100 * time.Millisecond):
		}
		if m := grepFile(logPath, runningRe); m != nil {
			g.HTTP, g.RTSP = m[1], m[2]
			return g, nil
		}
	}
	g.stop()
	return nil, fmt.Errorf("visiongate did not start in 15 s (see %s)", logPath)
}

func grepFile(path string, re *regexp.Regexp) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			return m
		}
	}
	return nil
}

// stop asks visiongate to exit and kills it after 10 s.
func (g *gateway) stop() {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// sourceStatus is the part of GET /api/v1/sources/NAME the bench reads.
type sourceStatus struct {
	State     string         `json:"state"`
	FramesIn  uint64         `json:"frames_in"`
	FramesOut uint64         `json:"frames_out"`
	FPSOut    float64        `json:"fps_out"`
	Input     map[string]any `json:"input"`
	LastError string         `json:"last_error"`
	Attempts  int            `json:"attempts"`
	Readers   map[string]int `json:"readers"`
}

func (g *gateway) status(name string) (*sourceStatus, error) {
	res, err := http.Get("http://" + g.HTTP + "/api/v1/sources/" + name)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var s sourceStatus
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// waitFrames waits until the source has published frames.
func (g *gateway) waitFrames(ctx context.Context, name string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if s, err := g.status(name); err == nil && s.State == "running" && s.FramesOut > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s, _ := g.status(name)
			if s != nil {
				return fmt.Errorf("source %s not running after %v: state %s, last error %q", name, d, s.State, s.LastError)
			}
			return errors.New("source not running: " + ctx.Err().Error())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

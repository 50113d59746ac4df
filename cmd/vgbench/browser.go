package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The browser phases of `vgbench latency`: Chromium (e2e/latency.mjs,
// playwright-core) plays an output and reads the frame code off every
// picture it presents; the code and the wall-clock time of each picture
// are matched to the camera's send log as for the MJPEG reader.
//
//	webrtc-browser   visiongate's page, WebRTC (WHEP, the page's default)
//	hls-browser      visiongate's page, HLS button (hls.js, low latency)
//	mjpeg-browser    visiongate's page, MJPEG button (<img>)
//	mediamtx-webrtc  MediaMTX relaying the same camera (RTSP/TCP) over WHEP,
//	                 played with the page's whep.js
var browserPhases = map[string]string{
	"webrtc-browser": "webrtc", "hls-browser": "hls", "mjpeg-browser": "mjpeg", "mediamtx-webrtc": "whep",
}

// browserRun is what e2e/latency.mjs prints.
type browserRun struct {
	Error       string       `json:"error"`
	Frames      [][2]float64 `json:"frames"` // code (-1: unreadable), wall-clock ms
	Extra       [][]*float64 `json:"extra"`  // video: display − presentation, presentation − receive (ms)
	Presented   int          `json:"presented"`
	Width       int          `json:"width"`
	Height      int          `json:"height"`
	Mode        string       `json:"mode"`
	ModeText    string       `json:"mode_text"`
	ClockSkewMS float64      `json:"clock_skew_ms"`
	WindowMS    float64      `json:"window_ms"`
}

// browserInfo is the browser phase's part of phaseResult.
type browserInfo struct {
	Size      string  `json:"size"`
	Mode      string  `json:"mode"`
	Presented int     `json:"presented"`
	Readable  int     `json:"readable"`
	SkewMS    float64 `json:"clock_skew_ms"` // Date.now() − (timeOrigin + performance.now()) in the page
	// Medians over the window's pictures (video only): from the frame
	// handed to the compositor to its expected display, and from its last
	// packet's arrival to its presentation (WebRTC only).
	DisplayExtraMS     *float64 `json:"display_extra_ms,omitempty"`
	ReceiveToPresentMS *float64 `json:"receive_to_present_ms,omitempty"`
}

// runBrowserPhase runs e2e/latency.mjs for one phase and matches what it
// saw. The window starts once the player shows a readable picture and has
// settled, so a slow browser start costs time, not accuracy.
func runBrowserPhase(name string, o latencyOpts, gw *gateway, cam *camera, clipLen int) phaseResult {
	player := browserPhases[name]
	args := []string{o.script, "--settle-ms", msArg(o.settle), "--window-ms", msArg(o.window), "--start-ms", "30000"}
	if player == "whep" {
		mtx, err := startMediaMTX(o, cam.URL)
		if err != nil {
			return phaseResult{Error: err.Error()}
		}
		defer mtx.stop()
		args = append(args, "--whep", mtx.whep)
	} else {
		args = append(args, "--page", "http://"+gw.HTTP, "--source", "lat", "--player", player)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.settle+o.window+90*time.Second)
	defer cancel()
	logPath := filepath.Join(o.dir, "latency-"+name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return phaseResult{Error: err.Error()}
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, o.node, args...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runErr := cmd.Run()
	// The page's times are wall clock; the send log is on now()'s
	// monotonic clock. One reading of both gives the offset (the wall
	// clock does not step during a run; NTP slews it by microseconds).
	t := time.Now()
	wallToMono := t.UnixNano() - int64(t.Sub(epoch))
	var br browserRun
	if err := json.Unmarshal(lastLine(stdout.Bytes()), &br); err != nil {
		msg := fmt.Sprintf("%s: no result (%v; see %s)", name, runErr, logPath)
		return phaseResult{Error: msg}
	}
	r := phaseResult{latencyStats: matchBrowser(br, cam.log.snapshot(), clipLen, wallToMono)}
	r.FPS = round2(float64(br.Presented) / o.window.Seconds())
	info := &browserInfo{Size: fmt.Sprintf("%dx%d", br.Width, br.Height), Mode: br.Mode, Presented: br.Presented,
		Readable: len(br.Frames) - unreadableOf(br), SkewMS: round2(br.ClockSkewMS)}
	info.DisplayExtraMS = medianOf(br.Extra, 0)
	info.ReceiveToPresentMS = medianOf(br.Extra, 1)
	if br.ModeText != "" {
		info.Mode += " (" + br.ModeText + ")"
	}
	r.Browser = info
	switch {
	case br.Error != "":
		r.Error = br.Error
	case runErr != nil:
		r.Error = fmt.Sprintf("%v (see %s)", runErr, logPath)
	}
	return r
}

// matchBrowser matches the page's pictures (wall-clock ms) to the send
// log (monotonic ns since epoch: wall − wallToMono); unreadable pictures
// count as unmatched.
func matchBrowser(br browserRun, ix *sendIndex, clipLen int, wallToMono int64) latencyStats {
	var codes []codeObs
	for _, f := range br.Frames {
		if f[0] >= 0 {
			codes = append(codes, codeObs{code: int(f[0]), at: int64(f[1]*1e6) - wallToMono})
		}
	}
	unreadable := unreadableOf(br)
	lats, un := matchCodes(codes, ix, clipLen, int64(5*time.Second))
	s := summarize(lats, un+unreadable)
	s.Note = fmt.Sprintf("%d pictures unreadable", unreadable)
	return s
}

func unreadableOf(br browserRun) int {
	n := 0
	for _, f := range br.Frames {
		if f[0] < 0 {
			n++
		}
	}
	return n
}

func msArg(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

// medianOf is the median of column k of rows (nil where none is given).
func medianOf(rows [][]*float64, k int) *float64 {
	var v []float64
	for _, r := range rows {
		if k < len(r) && r[k] != nil {
			v = append(v, *r[k])
		}
	}
	if len(v) == 0 {
		return nil
	}
	sort.Float64s(v)
	m := round2(v[len(v)/2])
	return &m
}

// mediamtx is a MediaMTX process relaying the bench camera, for the
// comparison only: WebRTC on loopback (WHEP over HTTP on a free TCP port,
// media on a free UDP port, the loopback address offered as the host
// candidate), everything else off.
type mediamtx struct {
	cmd  *exec.Cmd
	done chan error
	whep string
}

var mtxReadyRe = regexp.MustCompile(`\[path cam\].*(ready|online)`)

func startMediaMTX(o latencyOpts, camURL string) (*mediamtx, error) {
	if o.mediamtx == "" {
		return nil, fmt.Errorf("mediamtx-webrtc: -mediamtx BIN is required")
	}
	httpPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	udpPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(o.dir, "latency-mediamtx.yml")
	yaml := strings.Join([]string{
		"logLevel: info",
		"api: no", "metrics: no", "pprof: no", "playback: no",
		"rtsp: no", "rtmp: no", "hls: no", "srt: no", "moq: no",
		"webrtc: yes",
		fmt.Sprintf("webrtcAddress: 127.0.0.1:%d", httpPort),
		fmt.Sprintf("webrtcLocalUDPAddress: 127.0.0.1:%d", udpPort),
		"webrtcLocalTCPAddress: ''",
		"webrtcIPsFromInterfaces: no",
		"webrtcAdditionalHosts: [127.0.0.1]",
		"paths:",
		"  cam:",
		fmt.Sprintf("    source: %s", camURL),
		"    rtspTransport: tcp",
		"    sourceOnDemand: no",
		"",
	}, "\n")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.dir, "latency-mediamtx.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	bin, err := filepath.Abs(o.mediamtx)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, abs)
	cmd.Dir = o.dir // it may write files next to itself (none with this config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mediamtx: %w", err)
	}
	m := &mediamtx{cmd: cmd, done: make(chan error, 1), whep: fmt.Sprintf("http://127.0.0.1:%d/cam/whep", httpPort)}
	go func() { m.done <- cmd.Wait() }()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-m.done:
			return nil, fmt.Errorf("mediamtx exited: %v (see %s)", err, logPath)
		case <-time.After(100 * time.Millisecond):
		}
		if grepFile(logPath, mtxReadyRe) != nil {
			return m, nil
		}
	}
	m.stop()
	return nil, fmt.Errorf("mediamtx: path cam not ready in 15 s (see %s)", logPath)
}

func (m *mediamtx) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// freePort is a loopback port the kernel had free a moment ago.
func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

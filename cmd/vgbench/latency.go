package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// latencyOpts are the flags of `vgbench latency`.
type latencyOpts struct {
	bin, clip, dir, phases string
	node, script, mediamtx string // the browser phases (browser.go)
	fps                    int
	settle, window         time.Duration
}

// phaseResult is one output's latency over one window.
type phaseResult struct {
	latencyStats
	FPS     float64      `json:"fps"`
	Error   string       `json:"error,omitempty"`
	Browser *browserInfo `json:"browser,omitempty"`
}

// cmdLatency: the bench camera feeds a visiongate it starts (RTSP over
// TCP, vision off), and one reader at a time (RTSP, MJPEG, LL-HLS; or
// Chromium playing a page, browser.go) records when each frame arrives;
// frames are matched to the camera's send log.
func cmdLatency(args []string) error {
	var o latencyOpts
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	fs.StringVar(&o.bin, "bin", "bin/visiongate", "visiongate binary")
	fs.StringVar(&o.clip, "clip", "", "Annex B H.264 clip with AUDs and the frame code (scripts/bench makes it)")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "where the config and the gateway log go")
	fs.StringVar(&o.phases, "phases", "rtsp,mjpeg,hls", "outputs to measure, one after the other: rtsp, mjpeg, hls, "+
		"webrtc-browser, hls-browser, mjpeg-browser, mediamtx-webrtc")
	fs.StringVar(&o.node, "node", "node", "node, for the browser phases")
	fs.StringVar(&o.script, "script", "e2e/latency.mjs", "the browser phases' script")
	fs.StringVar(&o.mediamtx, "mediamtx", "", "MediaMTX binary, for the mediamtx-webrtc phase")
	fs.IntVar(&o.fps, "fps", 30, "camera frame rate (must divide 90000)")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "reader warm-up before each window (not counted)")
	fs.DurationVar(&o.window, "window", 10*time.Second, "measurement window per output")
	_ = fs.Parse(args)
	if o.clip == "" || ticksPerSec%o.fps != 0 {
		return fmt.Errorf("latency: -clip is required and -fps must divide %d", ticksPerSec)
	}
	aus, err := loadClip(o.clip)
	if err != nil {
		return err
	}
	phases := strings.Split(o.phases, ",")
	total := 40*time.Second + time.Duration(len(phases)+1)*(o.settle+o.window)
	for _, ph := range phases {
		if browserPhases[ph] != "" {
			total += 60 * time.Second // the browser's start and the player's first picture
		}
	}
	cam, err := startCamera(aus, o.fps, newSchedule(int(total.Seconds())*o.fps))
	if err != nil {
		return err
	}
	defer cam.close()
	gw, err := startLatencyGateway(o, cam.URL)
	if err != nil {
		return err
	}
	defer gw.stop()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { // stopped from outside: leave no gateway behind
		<-sig
		gw.stop()
		os.Exit(1)
	}()
	out := map[string]any{"camera": cam.URL, "clip_frames": len(aus), "fps": o.fps}
	time.Sleep(o.settle) // the pipeline settles before any reader
	for _, ph := range phases {
		out[ph] = runPhase(ph, o, gw, cam, len(aus))
	}
	if st, err := gw.status("lat"); err == nil {
		out["status"] = st
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func startLatencyGateway(o latencyOpts, camURL string) (*gateway, error) {
	cfg := filepath.Join(o.dir, "latency.yaml")
	// on_demand false: latency is a steady-state figure, and waitFrames
	// needs frames published before any reader comes. Every listener on
	// a kernel-chosen loopback port: other benches may run beside it.
	yaml := fmt.Sprintf("rtsp_rtp_address: \"off\"\nrtsp_rtcp_address: \"off\"\n"+
		"rtmp: 127.0.0.1:0\nsrt: 127.0.0.1:0\nwebrtc: {udp: 127.0.0.1:0, tcp: 127.0.0.1:0}\nsources:\n"+
		"  - name: lat\n    url: %q\n    transport: tcp\n    on_demand: false\n", camURL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	gw, err := startGateway(o.bin, cfg, filepath.Join(o.dir, "latency-vg.log"))
	if err != nil {
		return nil, err
	}
	if err := gw.waitFrames(context.Background(), "lat", 20*time.Second); err != nil {
		gw.stop()
		return nil, err
	}
	return gw, nil
}

// runPhase reads one output for settle+window and matches the frames
// that arrived in the window.
func runPhase(name string, o latencyOpts, gw *gateway, cam *camera, clipLen int) phaseResult {
	if browserPhases[name] != "" {
		return runBrowserPhase(name, o, gw, cam, clipLen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.settle+o.window)
	defer cancel()
	winStart := now() + int64(o.settle)
	var mu sync.Mutex
	var ts []tsObs
	onTS := func(t, at int64) {
		if at >= winStart {
			mu.Lock()
			ts = append(ts, tsObs{t, at})
			mu.Unlock()
		}
	}
	client := &http.Client{}
	var err error
	var codes []codeObs
	var unreadable int
	switch name {
	case "rtsp":
		err = readRTSP(ctx, "rtsp://"+gw.RTSP+"/lat", onTS)
	case "hls":
		err = readHLS(ctx, client, "http://"+gw.HTTP+"/hls/lat/index.m3u8", onTS)
	case "mjpeg":
		codes, unreadable, err = readCodes(ctx, client, "http://"+gw.HTTP+"/mjpeg/lat", winStart)
	default:
		return phaseResult{Error: "unknown phase " + name}
	}
	<-ctx.Done()
	ix := cam.log.snapshot()
	tps := int64(ticksPerSec / o.fps)
	var r phaseResult
	if name == "mjpeg" {
		lats, un := matchCodes(codes, ix, clipLen, int64(5*time.Second))
		r.latencyStats = summarize(lats, un+unreadable)
		r.Note = fmt.Sprintf("%d pictures unreadable", unreadable)
	} else {
		mu.Lock()
		lats, un := matchTimestamps(ts, ix, tps, int64(8*time.Second))
		mu.Unlock()
		r.latencyStats = summarize(lats, un)
	}
	r.FPS = round2(float64(r.Received) / o.window.Seconds())
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// readCodes reads MJPEG pictures and their frame codes. Decoding runs on
// its own goroutine so the reader records arrivals on time; when it falls
// behind, pictures are skipped (counted as received, not matched).
func readCodes(ctx context.Context, client *http.Client, u string, winStart int64) ([]codeObs, int, error) {
	type pic struct {
		b  []byte
		at int64
	}
	ch := make(chan pic, 32)
	var codes []codeObs
	unreadable := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range ch {
			if c, ok := readCode(p.b); ok {
				codes = append(codes, codeObs{c, p.at})
			} else {
				unreadable++
			}
		}
	}()
	skipped := 0 // the decoder was behind
	err := readMJPEG(ctx, client, u, true, func(b []byte, at int64) {
		if at < winStart {
			return
		}
		select {
		case ch <- pic{b, at}:
		default:
			skipped++
		}
	})
	close(ch)
	<-done
	return codes, unreadable + skipped, err
}

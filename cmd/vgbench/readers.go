package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// kindStats is what the readers of one kind got during the window.
type kindStats struct {
	Readers    int     `json:"readers"`
	Receiving  int     `json:"receiving"` // readers that got at least one frame in the window
	FPSMin     float64 `json:"fps_min"`
	FPSMedian  float64 `json:"fps_median"`
	FPSMax     float64 `json:"fps_max"`
	FPSTotal   float64 `json:"fps_total"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
}

type readerSet struct {
	kind   string
	counts []atomic.Int64
	mu     sync.Mutex
	errs   []string
}

func (s *readerSet) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err.Error())
	s.mu.Unlock()
}

// cmdReaders runs many readers of one or more outputs in this process (so
// their CPU is not the gateway's) for warm+window and prints how many
// frames each kind got per second in the window. With -marks DIR it
// creates DIR/start and DIR/end when the window opens and closes, so a
// script can sample the gateway's CPU over exactly that window. The JSON
// also has the readers' own CPU (cores) over the window.
func cmdReaders(args []string) error {
	fs := flag.NewFlagSet("readers", flag.ExitOnError)
	rtspURL := fs.String("rtsp", "", "RTSP URL")
	rtspN := fs.Int("rtsp-n", 0, "RTSP readers (TCP, packets counted, not decoded)")
	mjpegURL := fs.String("mjpeg", "", "MJPEG (multipart) URL")
	mjpegN := fs.Int("mjpeg-n", 0, "MJPEG viewers (parts counted)")
	hlsURL := fs.String("hls", "", "HLS multivariant playlist URL")
	hlsN := fs.Int("hls-n", 0, "LL-HLS readers (preload-hint parts fetched, samples counted)")
	warm := fs.Duration("warm", 3*time.Second, "time to connect and settle before the window")
	window := fs.Duration("window", 10*time.Second, "measurement window")
	marks := fs.String("marks", "", "directory for the start/end mark files")
	_ = fs.Parse(args)

	ctx, cancel := context.WithTimeout(context.Background(), *warm+*window+time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}}
	var wg sync.WaitGroup
	sets := []*readerSet{
		startReaders(ctx, &wg, "rtsp", *rtspN, func(ctx context.Context, inc func(int64, int64)) error {
			return readRTSP(ctx, *rtspURL, inc)
		}),
		startReaders(ctx, &wg, "mjpeg", *mjpegN, func(ctx context.Context, inc func(int64, int64)) error {
			return readMJPEG(ctx, client, *mjpegURL, false, func(_ []byte, at int64) { inc(0, at) })
		}),
		startReaders(ctx, &wg, "hls", *hlsN, func(ctx context.Context, inc func(int64, int64)) error {
			return readHLS(ctx, client, *hlsURL, inc)
		}),
	}
	time.Sleep(*warm)
	c0, cpu0 := snapshot(sets), cpuSeconds()
	t0 := time.Now()
	mark(*marks, "start")
	time.Sleep(*window)
	c1, cpu1 := snapshot(sets), cpuSeconds()
	el := time.Since(t0).Seconds()
	mark(*marks, "end")
	cancel()
	wg.Wait()
	out := map[string]any{"cpu_cores": round2((cpu1 - cpu0) / el)}
	for i, s := range sets {
		if len(s.counts) > 0 {
			out[s.kind] = s.stats(c0[i], c1[i], el)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func startReaders(ctx context.Context, wg *sync.WaitGroup, kind string, n int,
	read func(context.Context, func(int64, int64)) error) *readerSet {
	s := &readerSet{kind: kind, counts: make([]atomic.Int64, n)}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := read(ctx, func(int64, int64) { s.counts[i].Add(1) }); err != nil {
				s.fail(err)
			}
		}()
	}
	return s
}

func snapshot(sets []*readerSet) [][]int64 {
	out := make([][]int64, len(sets))
	for i, s := range sets {
		out[i] = make([]int64, len(s.counts))
		for j := range s.counts {
			out[i][j] = s.counts[j].Load()
		}
	}
	return out
}

func (s *readerSet) stats(c0, c1 []int64, secs float64) kindStats {
	k := kindStats{Readers: len(c0)}
	fps := make([]float64, len(c0))
	for i := range c0 {
		fps[i] = float64(c1[i]-c0[i]) / secs
		if c1[i] > c0[i] {
			k.Receiving++
		}
		k.FPSTotal += fps[i]
	}
	sort.Float64s(fps)
	k.FPSMin, k.FPSMax = round2(fps[0]), round2(fps[len(fps)-1])
	k.FPSMedian = round2(percentile(fps, 50))
	k.FPSTotal = round2(k.FPSTotal)
	s.mu.Lock()
	defer s.mu.Unlock()
	k.Errors = len(s.errs)
	if len(s.errs) > 0 {
		k.FirstError = s.errs[0]
	}
	return k
}

// cpuSeconds is the CPU time this process has used (user + system).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func mark(dir, name string) {
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprint(time.Now().UnixNano())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "vgbench:", err)
	}
}

// Command vgbench is the helper of scripts/bench for the parts that need
// precise timing or many clients:
//
//	vgbench latency -clip CLIP.h264 [-bin bin/visiongate] [-window 10s] …
//	    a bench camera (gortsplib server) feeds a visiongate it starts;
//	    readers of its RTSP, MJPEG and LL-HLS outputs time each frame from
//	    the camera's send to its arrival; prints JSON with p50/p95/p99.
//	    -phases webrtc-browser,hls-browser,mjpeg-browser,mediamtx-webrtc
//	    [-mediamtx BIN] time decoded pictures in Chromium instead
//	    (e2e/latency.mjs; browser.go).
//	vgbench readers [-rtsp URL -rtsp-n N] [-mjpeg URL -mjpeg-n N]
//	    [-hls URL -hls-n N] [-warm 3s -window 10s -marks DIR]
//	    many readers in one process; prints frames per second per reader.
//	vgbench codefilter
//	    prints the ffmpeg filter that burns the frame code into a clip.
//	vgbench camera -clip CLIP.h264 [-fps 30] [-url-file FILE]
//	    the bench camera alone (every frame sent, looped) until SIGTERM.
//	vgbench firstframe -rtsp URL | -hls URL [-timeout 15s]
//	    one new reader: prints ms from its first request to its first
//	    decoded picture, and the wall clock at that request (JSON).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "latency":
		err = cmdLatency(os.Args[2:])
	case "readers":
		err = cmdReaders(os.Args[2:])
	case "codefilter":
		fmt.Println(codeFilter())
	case "camera":
		err = cmdCamera(os.Args[2:])
	case "firstframe":
		err = cmdFirstFrame(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vgbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: vgbench latency|readers|codefilter|camera|firstframe [flags] (see the package comment)")
	os.Exit(2)
}

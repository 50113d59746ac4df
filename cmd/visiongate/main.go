// Command visiongate turns camera and RTSP feeds into live H.264 for RTSP
// and browser clients. With no flags it runs an embedded demo source.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registered on DefaultServeMux, served only with --pprof
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/visiongate/visiongate/gateway/app"
	"github.com/visiongate/visiongate/gateway/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "visiongate:", err)
		os.Exit(1)
	}
}

func run() error {
	configPath := flag.String("config", "", "YAML configuration file (default: embedded demo config)")
	httpAddr := flag.String("http", "", "HTTP listen address for the API, HLS and MJPEG (default :8080)")
	rtspAddr := flag.String("rtsp", "", "RTSP listen address (default :8554)")
	statePath := flag.String("state", "", "file that keeps sources added through the API")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error")
	pprofAddr := flag.String("pprof", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := config.Default()
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			return err
		}
	} else {
		addPeopleDemo(cfg)
	}
	override(&cfg.HTTP, *httpAddr)
	override(&cfg.RTSP, *rtspAddr)
	override(&cfg.State, *statePath)
	// The state file's place moves the default models directory.
	if err := cfg.Validate(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Start(cfg, log)
	if err != nil {
		return err
	}
	log.Info("visiongate running", "http", a.HTTPAddr(), "rtsp", a.RTSPAddr(), "rtmp", a.RTMPAddr(), "srt", a.SRTAddr())
	if *pprofAddr != "" {
		go servePprof(log, *pprofAddr)
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-a.Failed():
		log.Error("server failed", "err", err)
	}
	if cerr := a.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
		log.Warn("shutdown", "err", cerr)
	}
	return err
}

func override(dst *string, flagValue string) {
	if flagValue != "" {
		*dst = flagValue
	}
}

// servePprof exposes profiles on their own listener, never on the public
// HTTP port. It lives until the process exits. Profiles show memory and
// stacks (credentials included) to whoever connects: beyond loopback, the
// log says so.
func servePprof(log *slog.Logger, addr string) {
	if !app.LoopbackOnly(addr) {
		log.Warn("the profiler listens beyond loopback, without authentication: anyone who can reach "+
			addr+" can read memory and stack traces; use 127.0.0.1:PORT", "addr", addr)
	}
	log.Info("profiler listening", "addr", addr)
	srv := &http.Server{Addr: addr, Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Warn("profiler", "err", err)
	}
}

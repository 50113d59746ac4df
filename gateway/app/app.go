// Package app wires visiongate together: RTSP server, source manager and
// HTTP server, started from one config and closed in reverse order. The
// command and the end-to-end tests both use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hls"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/gateway/metrics"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/gateway/pictures"
	"github.com/visiongate/visiongate/gateway/pipeline"
	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/gateway/rtmp"
	"github.com/visiongate/visiongate/gateway/rtsp"
	"github.com/visiongate/visiongate/gateway/srt"
	"github.com/visiongate/visiongate/gateway/webrtc"
	"github.com/visiongate/visiongate/vision"
	"github.com/visiongate/visiongate/web"
)

// shutdownGrace bounds how long HTTP clients may hold the shutdown.
const shutdownGrace = 2 * time.Second

// App is a running gateway.
type App struct {
	log      *slog.Logger
	rtsp     *rtsp.Server
	hls      *hls.Server
	pictures *pictures.Output
	vision   *vision.Pool
	metrics  *metrics.Registry
	mqtt     *mqttSink
	manager  *manager.Manager
	publish  *publish.Broker
	srt      *srt.Server
	rtmp     *rtmp.Server
	webrtc   *webrtc.Server
	// published is the manager once it runs, for publishers that connect
	// from other goroutines.
	published atomic.Pointer[manager.Manager]
	http      *http.Server
	httpLn    *web.LimitedListener
	rtspLn    *web.LimitedListener // set while the RTSP server starts
	throttle  *web.Throttle        // failed logins, HTTP and RTSP together
	failed    chan error
	httpDone  chan struct{}
}

// Start opens the listeners and starts every configured source.
func Start(cfg *config.Config, log *slog.Logger) (*App, error) {
	routeLibavLogs(log)
	a := &App{log: log, failed: make(chan error, 2), httpDone: make(chan struct{})}
	a.throttle = web.NewThrottle(cfg.Limits.AuthFailuresPerMinute)
	a.publish = newBroker(cfg, a.published.Load)
	if err := a.startRTSP(cfg); err != nil {
		return nil, fmt.Errorf("rtsp server: %w", err)
	}
	a.hls = newHLSServer(cfg.HLS, log)
	a.hls.BaseURL = a.httpBase(cfg.PublicHost)
	a.pictures = &pictures.Output{BaseURL: a.hls.BaseURL}
	var err error
	if a.webrtc, err = newWebRTC(cfg, a.hls.BaseURL, a.publish, log); err != nil {
		a.closeOutputs()
		return nil, fmt.Errorf("webrtc: %w", err)
	}
	ln, err := a.listenHTTP(cfg)
	if err != nil {
		a.closeOutputs()
		return nil, fmt.Errorf("http server: %w", err)
	}
	a.vision = vision.NewPool(0, nil)
	a.metrics = metrics.New()
	if a.mqtt, err = a.startMQTT(cfg.MQTT); err == nil {
		err = a.startManager(cfg)
	}
	if err == nil {
		a.mqtt.forward(a.vision, a.manager.Has)
		err = a.startPublishing(cfg)
	}
	if err != nil {
		a.closePublishing()
		if a.manager != nil {
			a.manager.Close()
		}
		a.publish.Close()
		ln.Close()
		_ = a.vision.Close()
		a.mqtt.close()
		a.closeOutputs()
		return nil, err
	}
	a.http = a.newHTTPServer(cfg, web.NewRouter(web.Options{Sources: a.manager, Pictures: a.pictures,
		Detections: a.manager, HLS: a.hls.Handler(), WebRTC: a.webrtcHandler(), Log: log, UI: true, Auth: webAuth(cfg.Auth, a.throttle),
		MaxViewers: max(cfg.Limits.ReadersPerSource, 0), Metrics: a.metrics.Handler(),
		Models: modelsDir{cfg.ModelsPath()}}))
	go a.serveHTTP()
	warnIfOpen(log, cfg, a.HTTPAddr(), a.RTSPAddr())
	return a, nil
}

// HTTP time and size limits: requests get little time to send their
// headers, so that connections that never authenticate do not hold slots.
const (
	httpHeaderTimeout = 5 * time.Second
	httpMaxHeader     = 16 << 10
	httpIdleTimeout   = 120 * time.Second
)

func (a *App) newHTTPServer(cfg *config.Config, router http.Handler) *http.Server {
	guard := web.Guard{AllowedHosts: allowedHosts(cfg, a.HTTPAddr()), Health: a.health}
	srv := &http.Server{
		Handler:           guard.Wrap(router),
		ReadHeaderTimeout: httpHeaderTimeout,
		MaxHeaderBytes:    httpMaxHeader,
		IdleTimeout:       httpIdleTimeout,
	}
	// Streaming responses (MJPEG, SSE, blocked HLS requests) end when
	// shutdown starts instead of holding it for its whole grace period.
	streams, endStreams := context.WithCancel(context.Background())
	srv.BaseContext = func(net.Listener) context.Context { return streams }
	srv.RegisterOnShutdown(endStreams)
	return srv
}

// listenHTTP opens the HTTP listener within limits.http_connections (over
// it, new connections wait) and limits.http_connections_per_address (over
// it, 429 and closed).
func (a *App) listenHTTP(cfg *config.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return nil, err
	}
	a.httpLn = web.LimitListener(ln, web.ConnLimits{Total: cfg.Limits.HTTPConnections, WaitForSlot: true,
		PerAddress: cfg.Limits.HTTPConnectionsPerAddress, Refuse: web.RefuseHTTP,
		OnAcceptError: a.acceptErrorLogger("http")})
	return a.httpLn, nil
}

// startRTSP starts the RTSP server with the auth rule, the connection caps
// (over them, closed at once) and a watch on its listener.
func (a *App) startRTSP(cfg *config.Config) error {
	a.rtsp = &rtsp.Server{Addr: cfg.RTSP, Log: a.log,
		UDPRTPAddress: udpAddr(cfg.RTSPRTPAddress), UDPRTCPAddress: udpAddr(cfg.RTSPRTCPAddress),
		Accounts: rtspAccounts(webAuth(cfg.Auth, nil)), MaxReaders: max(cfg.Limits.ReadersPerSource, 0),
		Publish: a.publish}
	a.rtsp.BaseURL = func() string { return "rtsp://" + output.HostPort(cfg.PublicHost, a.RTSPAddr()) }
	if a.throttle != nil {
		a.rtsp.Throttle = a.throttle
	}
	a.rtsp.Listen = func(network, address string) (net.Listener, error) {
		ln, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		a.rtspLn = web.LimitListener(ln, web.ConnLimits{Total: cfg.Limits.RTSPConnections,
			PerAddress: cfg.Limits.RTSPConnectionsPerAddress, OnAcceptError: a.acceptErrorLogger("rtsp")})
		return a.rtspLn, nil
	}
	a.rtsp.OnFail = a.fail
	return a.rtsp.Start()
}

// fail reports a listener that died.
func (a *App) fail(err error) {
	select {
	case a.failed <- err:
	default:
	}
}

func (a *App) acceptErrorLogger(listener string) func(error) {
	return func(err error) {
		a.log.Warn("accept failed; retrying", "listener", listener, "err", err)
	}
}

// health names the parts that stopped working, for /healthz.
func (a *App) health() map[string]string {
	if err := a.rtsp.Err(); err != nil {
		return map[string]string{"rtsp": err.Error()}
	}
	return nil
}

func (a *App) startManager(cfg *config.Config) error {
	var err error
	a.manager, err = manager.New(manager.Options{
		Config: cfg, Log: a.log, Outputs: a.outputs(),
		Vision:  stageFactory(a.vision, cfg),
		Backoff: pipeline.Backoff{Min: cfg.Reconnect.Min.D, Max: cfg.Reconnect.Max.D},
		Metrics: sourceSinks{a.metrics, a.mqtt}, Publish: a.publish,
	})
	if err == nil {
		a.metrics.SetSources(a.manager)
		a.published.Store(a.manager)
	}
	return err
}

func (a *App) closeOutputs() {
	if a.webrtc != nil {
		a.webrtc.Close()
	}
	a.hls.Close()
	a.rtsp.Close()
}

func (a *App) serveHTTP() {
	defer close(a.httpDone)
	if err := a.http.Serve(a.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.failed <- err
	}
}

// HTTPAddr is the HTTP listener's address (useful with port 0).
func (a *App) HTTPAddr() string { return a.httpLn.Addr().String() }

// RTSPAddr is the RTSP listener's address.
func (a *App) RTSPAddr() string { return a.rtsp.ListenAddr() }

// Manager gives tests and embedders the source registry.
func (a *App) Manager() *manager.Manager { return a.manager }

// Failed reports a listener that died.
func (a *App) Failed() <-chan error { return a.failed }

// Close stops HTTP, every source (freeing its libav objects) and RTSP.
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := a.http.Shutdown(ctx)
	if err != nil {
		a.http.Close()
	}
	<-a.httpDone
	a.closePublishing()
	a.manager.Close()
	a.publish.Close()
	_ = a.vision.Close()
	a.mqtt.close()
	a.closeOutputs()
	return err
}

// httpBase is the HTTP outputs' base URL: the configured public host, or
// loopback when the listener binds every interface.
func (a *App) httpBase(publicHost string) func() string {
	return func() string { return "http://" + output.HostPort(publicHost, a.HTTPAddr()) }
}

// udpAddr maps the config's "off" to the RTSP server's "no UDP".
func udpAddr(a string) string {
	if a == "off" {
		return ""
	}
	return a
}

// routeLibavLogs sends libav's warnings and errors to the logger once.
func routeLibavLogs(log *slog.Logger) {
	astiav.SetLogLevel(astiav.LogLevelError)
	astiav.SetLogCallback(func(c astiav.Classer, l astiav.LogLevel, _, msg string) {
		log.Debug("libav", "msg", config.MaskURLsIn(trimNewline(msg)), "level", int(l))
	})
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

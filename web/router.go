// Package web serves visiongate's HTTP side: the REST API under /api/v1,
// health and metrics, and (through Options.Extra) the media routes.
package web

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/gateway/config"
)

// Sources is what the API needs from the source manager; web declares it
// so it can be tested with a fake.
type Sources interface {
	List() []api.Status
	// Get returns api.ErrNotFound for an unknown name.
	Get(name string) (api.Status, error)
	// Add returns *config.ValidationError (400) or api.ErrExists (409).
	Add(src config.Source) (api.Status, error)
	// Update applies a JSON merge patch (RFC 7396) to the source: fields
	// present replace, null removes. Errors: api.ErrNotFound,
	// *config.ValidationError.
	Update(name string, patch json.RawMessage) (api.Status, error)
	// Remove returns api.ErrNotFound for an unknown name.
	Remove(name string) error
}

// Options configure NewRouter.
type Options struct {
	Sources Sources
	Log     *slog.Logger // nil discards
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Extra lets later issues mount more routes (HLS, MJPEG, snapshots, web
	// page) without editing the API code. It runs after the API routes.
	Extra func(r *gin.Engine)
	// Metrics writes Prometheus text exposition; nil serves a minimal
	// process section.
	Metrics http.Handler
	// Pictures, when set, serves /mjpeg/NAME and /snapshot/NAME.jpg.
	Pictures Pictures
	// MaxViewers caps MJPEG viewers per source; 0 is unlimited.
	MaxViewers int
	// HLS, when set, serves everything under /hls/.
	HLS http.Handler
	// WebRTC, when set, serves WHEP and WHIP under /webrtc/.
	WebRTC http.Handler
	// Detections, when set, serves a source's detections and events.
	Detections Detections
	// Auth, when it has credentials, guards every route but /healthz.
	Auth Auth
	// UI serves the web page at / and its files under /ui/.
	UI bool
	// Models, when set, lists the models directory at /api/v1/models.
	Models Models
}

// DefaultMaxBodyBytes is the request body limit when Options leave it 0.
const DefaultMaxBodyBytes = 64 << 10

const promContentType = "text/plain; version=0.0.4; charset=utf-8"

// errorBody is the shape of every error response.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// NewRouter returns the HTTP handler for the API, health and metrics. It
// panics when o.Sources is nil, which is a wiring mistake.
func NewRouter(o Options) http.Handler {
	if o.Sources == nil {
		panic("web: Options.Sources is nil")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	gin.SetMode(gin.ReleaseMode) // no route dump or debug warnings on stdout
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// A redirect would answer HTML; an API client gets a JSON 404 instead.
	r.RedirectTrailingSlash = false
	_ = r.SetTrustedProxies(nil) // nil never fails; ClientIP stays the peer
	r.Use(recoverJSON(log), accessLog(log))
	if o.Auth.Enabled() {
		r.Use(o.Auth.middleware())
	}
	r.NoRoute(func(c *gin.Context) { writeError(c, http.StatusNotFound, "no such route") })
	r.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method "+c.Request.Method+" not allowed")
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	if o.Metrics != nil {
		r.GET("/metrics", gin.WrapH(o.Metrics))
	} else {
		r.GET("/metrics", fallbackMetrics)
	}
	a := &sourcesAPI{src: o.Sources, log: log, maxBody: o.MaxBodyBytes}
	a.mount(r.Group(apiPrefix))
	if o.Detections != nil {
		(&detections{src: o.Detections}).mount(r.Group(apiPrefix))
	}
	if o.Models != nil {
		mountModels(r.Group(apiPrefix), o.Models)
	}
	if o.Pictures != nil {
		(&mediaRoutes{pics: o.Pictures, maxViewers: o.MaxViewers}).mount(r)
	}
	if o.HLS != nil {
		r.Any("/hls/*path", gin.WrapH(o.HLS))
	}
	if o.WebRTC != nil {
		r.Any("/webrtc/*path", gin.WrapH(o.WebRTC))
	}
	if o.UI {
		mountUI(r)
	}
	if o.Extra != nil {
		o.Extra(r)
	}
	return r
}

func writeError(c *gin.Context, code int, msg string) {
	c.AbortWithStatusJSON(code, errorBody{Error: msg})
}

// recoverJSON turns a handler panic into a logged JSON 500 so one bad
// request never takes the process down or leaks a stack to the client.
func recoverJSON(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { // net/http's way to drop a response
				panic(v)
			}
			log.Error("web: handler panic", "method", c.Request.Method, "path", c.Request.URL.Path,
				"panic", redact(fmt.Sprint(v)), "stack", string(debug.Stack()))
			if c.Writer.Written() {
				c.Abort()
				return
			}
			writeError(c, http.StatusInternalServerError, "internal error")
		}()
		c.Next()
	}
}

// accessLog logs each request at debug level; the path only, since query
// strings may carry tokens.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		log.Debug("web: request", "method", c.Request.Method, "path", c.Request.URL.Path,
			"status", c.Writer.Status(), "duration", time.Since(start))
	}
}

func fallbackMetrics(c *gin.Context) {
	body := fmt.Sprintf("# HELP visiongate_up Whether visiongate is running.\n"+
		"# TYPE visiongate_up gauge\nvisiongate_up 1\n"+
		"# HELP go_goroutines Number of goroutines that currently exist.\n"+
		"# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	c.Data(http.StatusOK, promContentType, []byte(body))
}

package app

import (
	"log/slog"
	"net/http"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/output"
	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/gateway/webrtc"
)

// newWebRTC opens the WebRTC output (WHEP) and ingest (WHIP) on their one
// UDP and one TCP port; nil when both are off.
func newWebRTC(cfg *config.Config, baseURL func() string, broker *publish.Broker, log *slog.Logger) (*webrtc.Server,
	error) {
	if cfg.WebRTC.UDP == config.Off && cfg.WebRTC.TCP == config.Off {
		return nil, nil
	}
	servers := make([]webrtc.ICEServer, len(cfg.WebRTC.ICEServers))
	for i, s := range cfg.WebRTC.ICEServers {
		servers[i] = webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential}
	}
	return webrtc.New(webrtc.Options{UDP: cfg.WebRTC.UDP, TCP: cfg.WebRTC.TCP, ICEServers: servers,
		AdditionalHosts: cfg.WebRTC.AdditionalHosts, ReadersPerSource: max(cfg.Limits.ReadersPerSource, 0),
		AllowOrigin: cfg.HLS.AllowOrigin, Log: log, BaseURL: baseURL, Publish: broker})
}

// outputs are the outputs every source is attached to.
func (a *App) outputs() *output.Registry {
	if a.webrtc == nil {
		return output.NewRegistry(a.rtsp, a.hls, a.pictures)
	}
	return output.NewRegistry(a.rtsp, a.hls, a.webrtc, a.pictures)
}

// webrtcHandler serves /webrtc/, nil when WebRTC is off.
func (a *App) webrtcHandler() http.Handler {
	if a.webrtc == nil {
		return nil
	}
	return a.webrtc.Handler()
}

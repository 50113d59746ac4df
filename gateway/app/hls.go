package app

import (
	"log/slog"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hls"
)

// newHLSServer maps the config's HLS section onto the HLS server.
func newHLSServer(c config.HLS, log *slog.Logger) *hls.Server {
	s := &hls.Server{Log: log, Variant: c.Variant, SegmentCount: c.SegmentCount,
		SegmentMinDuration: c.SegmentDuration.D, PartMinDuration: c.PartDuration.D,
		AllowOrigin: c.AllowOrigin, IdleTimeout: c.IdleTimeout.D}
	if c.AllowOrigin == "none" {
		s.AllowOrigin, s.NoCORS = "", true
	}
	return s
}

package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/transcode"
	"github.com/visiongate/visiongate/transcode/rtspin"
)

// pullsRTSP tells whether the source is an RTSP camera that the Go RTSP
// client pulls: it completes each access unit on the RTP marker bit,
// where libav's parser waits for the next unit (a frame of latency).
func pullsRTSP(u *config.SourceURL) bool {
	return u != nil && u.Kind == config.KindNetwork && (u.Scheme == "rtsp" || u.Scheme == "rtsps")
}

// openRTSP pulls an RTSP camera; rtspin.ErrUnsupported when its stream is
// one for libav (no H.264/H.265 video, or parameters Go cannot read).
func openRTSP(ctx context.Context, o Options, log *slog.Logger) (demuxer, error) {
	u := o.URL
	c, err := rtspin.Open(ctx, rtspin.Options{
		URL: u.Input, Transport: o.Source.Transport,
		ConnectTimeout: o.Source.ConnectTimeout.D, ReadTimeout: o.Source.ReadTimeout.D,
		TLS:    rtspin.TLSOptions{SkipVerify: u.Options["tls_verify"] == "0", CAFile: u.Options["ca_file"]},
		Egress: egressCheck(u), Audio: o.Source.AudioOn(), Log: log,
	})
	if err != nil {
		return nil, err
	}
	in, err := transcode.NewPacketInput(c.Video(), c.Audio(), c.ReadPacket)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &rtspInput{PacketInput: in, client: c}, nil
}

// egressCheck is the source's egress policy as the RTSP client asks it;
// nil without one.
func egressCheck(u *config.SourceURL) func(ctx context.Context, host string) ([]netip.Addr, error) {
	p := u.HostPolicy()
	if p == nil {
		return nil
	}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		return transcode.CheckEgress(ctx, p, host)
	}
}

// rtspInput is the RTSP client's packets as a demuxer.
type rtspInput struct {
	*transcode.PacketInput
	client *rtspin.Client
}

// Info adds the frame rate the camera's SPS announces, which the encoder
// and the timeline use.
func (in *rtspInput) Info() transcode.VideoInfo {
	info := in.PacketInput.Info()
	info.FPS = in.client.FPS()
	return info
}

// Close ends the session first, so no packet arrives while the input is
// freed.
func (in *rtspInput) Close() {
	in.client.Close()
	in.PacketInput.Close()
}

// openInput opens the source: RTSP cameras with the Go client, falling
// back to libav for streams it does not take, everything else with libav.
func openInput(ctx context.Context, o Options, log *slog.Logger) (demuxer, error) {
	if pullsRTSP(o.URL) {
		in, err := openRTSP(ctx, o, log)
		if !errors.Is(err, rtspin.ErrUnsupported) {
			return in, err
		}
		log.Info("rtsp: stream left to libav", "reason", err)
	}
	return openLibav(ctx, o)
}

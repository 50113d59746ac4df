package main

import (
	"context"
	"errors"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// readRTSP plays url over TCP until ctx ends and calls onFrame (from
// gortsplib's reader goroutine) when the last packet of each access unit
// (RTP marker bit) arrives, with its RTP timestamp unwrapped to 64 bits.
// Nothing is depacketized or decoded: the reader costs next to nothing.
func readRTSP(ctx context.Context, url string, onFrame func(ts int64, at int64)) error {
	u, err := base.ParseURL(url)
	if err != nil {
		return err
	}
	proto := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close) // unblocks Describe/Play too
	defer stop()
	desc, _, err := c.Describe(u)
	if err != nil {
		return err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return err
	}
	var last uint32
	var ts int64
	started := false
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		if !pkt.Marker {
			return
		}
		at := now()
		if started {
			ts += int64(int32(pkt.Timestamp - last))
		}
		last, started = pkt.Timestamp, true
		onFrame(ts, at)
	})
	if _, err := c.Play(nil); err != nil {
		return err
	}
	err = c.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("stream closed")
	}
	return err
}

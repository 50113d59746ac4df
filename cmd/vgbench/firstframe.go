package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"
)

// firstResult is one new reader's wait, in ms from its first request.
type firstResult struct {
	Kind         string  `json:"kind"`
	FirstUnitMS  float64 `json:"first_unit_ms"`  // the first access unit arrived
	FirstFrameMS float64 `json:"first_frame_ms"` // the decoder gave a picture
	Units        int     `json:"units"`          // access units it took
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	// StartUnixMS is the wall clock at the first request (ms since the
	// epoch), for a script that times from an event in another process.
	StartUnixMS float64 `json:"start_unix_ms"`
}

// cmdFirstFrame is one new reader of an RTSP or LL-HLS output: it
// connects as a player would and prints how long it took from its first
// request to its first decoded picture. One reader per process, so every
// try starts with nothing cached (no connection, no parameter sets).
func cmdFirstFrame(args []string) error {
	fs := flag.NewFlagSet("firstframe", flag.ExitOnError)
	rtspURL := fs.String("rtsp", "", "RTSP URL to play (TCP)")
	hlsURL := fs.String("hls", "", "HLS multivariant playlist URL")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	_ = fs.Parse(args)
	if (*rtspURL == "") == (*hlsURL == "") {
		return errors.New("firstframe: give one of -rtsp or -hls")
	}
	// Units before the first keyframe make libav log errors by design: a
	// new reader is expected to wait through them.
	astiav.SetLogLevel(astiav.LogLevelFatal)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var r firstResult
	var err error
	if *rtspURL != "" {
		r, err = firstFrameRTSP(ctx, *rtspURL)
	} else {
		r, err = firstFrameHLS(ctx, &http.Client{}, *hlsURL)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// stopwatch fills a firstResult as units and the first picture come.
type stopwatch struct {
	start time.Time
	r     firstResult
}

func ms(d time.Duration) float64 { return round2(float64(d) / 1e6) }

// unixMS is t in ms since the epoch (µs precision: exact in a float64).
func unixMS(t time.Time) float64 { return float64(t.UnixMicro()) / 1e3 }

// unit feeds one access unit and says whether the first picture came.
func (s *stopwatch) unit(w *frameWaiter, nalus [][]byte) (bool, error) {
	if w.Units == 0 {
		s.r.FirstUnitMS = ms(time.Since(s.start))
	}
	ok, err := w.feed(nalus)
	if ok {
		s.r.FirstFrameMS = ms(time.Since(s.start))
		s.r.Units, s.r.Width, s.r.Height = w.Units, w.W, w.H
	}
	return ok, err
}

// firstFrameRTSP times DESCRIBE, SETUP, PLAY and depacketizing until the
// first picture decodes. Decoding runs in gortsplib's reader goroutine:
// a player pays that time too.
func firstFrameRTSP(ctx context.Context, url string) (firstResult, error) {
	t0 := time.Now()
	sw := stopwatch{start: t0, r: firstResult{Kind: "rtsp", StartUnixMS: unixMS(t0)}}
	u, err := base.ParseURL(url)
	if err != nil {
		return sw.r, err
	}
	proto := gortsplib.ProtocolTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}
	if err := c.Start(); err != nil {
		return sw.r, err
	}
	defer c.Close()
	defer context.AfterFunc(ctx, c.Close)() // unblocks Describe/Play too
	desc, _, err := c.Describe(u)
	if err != nil {
		return sw.r, err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return sw.r, errors.New("rtsp: no H.264 track")
	}
	rtpDec, err := forma.CreateDecoder()
	if err != nil {
		return sw.r, err
	}
	w, err := newFrameWaiter(forma.SPS, forma.PPS)
	if err != nil {
		return sw.r, err
	}
	defer w.close()
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return sw.r, err
	}
	done := make(chan error, 2) // the callback and Wait: neither may block
	finished := false
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if finished {
			return
		}
		au, err := rtpDec.Decode(pkt)
		if err != nil {
			return // more packets needed, or joined in the middle of a unit
		}
		if ok, err := sw.unit(w, au); ok || err != nil {
			finished = true
			done <- err
		}
	})
	if _, err := c.Play(nil); err != nil {
		return sw.r, err
	}
	go func() { done <- ignoreCanceled(ctx, c.Wait()) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.Close() // no callback may still be decoding when the decoder is freed
	if err == nil && sw.r.FirstFrameMS == 0 {
		err = errors.New("rtsp: stream closed before a picture")
	}
	return sw.r, err
}

// firstFrameHLS plays like a low-latency player: multivariant playlist,
// media playlist, init segment, then the parts from the last independent
// one listed (or, when none is, the part the preload hint names, then the
// next ones) until a picture decodes.
func firstFrameHLS(ctx context.Context, client *http.Client, index string) (firstResult, error) {
	t0 := time.Now()
	sw := stopwatch{start: t0, r: firstResult{Kind: "hls", StartUnixMS: unixMS(t0)}}
	body, err := get(ctx, client, index)
	if err != nil {
		return sw.r, err
	}
	mediaURL, err := firstURI(index, body)
	if err != nil {
		return sw.r, err
	}
	pl, err := get(ctx, client, mediaURL)
	if err != nil {
		return sw.r, err
	}
	mp := parseMedia(mediaURL, pl)
	w, track, err := openHLSInit(ctx, client, mp.init)
	if err != nil {
		return sw.r, err
	}
	defer w.close()
	return sw.r, followParts(ctx, client, mediaURL, mp, func(b []byte) (bool, error) {
		return feedPart(&sw, w, track, b)
	})
}

// openHLSInit reads the init segment: the video track's ID and its
// parameter sets, which open the decoder.
func openHLSInit(ctx context.Context, client *http.Client, u string) (*frameWaiter, int, error) {
	if u == "" {
		return nil, 0, errors.New("hls: media playlist has no EXT-X-MAP")
	}
	b, err := get(ctx, client, u)
	if err != nil {
		return nil, 0, err
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
		return nil, 0, fmt.Errorf("hls init: %w", err)
	}
	for _, t := range init.Tracks {
		if c, ok := t.Codec.(*codecs.H264); ok {
			w, err := newFrameWaiter(c.SPS, c.PPS)
			return w, t.ID, err
		}
	}
	return nil, 0, errors.New("hls: no H.264 track in the init segment")
}

// followParts fetches parts in playlist order, starting where a player
// may start, and hands each to use until use says it is done.
func followParts(ctx context.Context, client *http.Client, mediaURL string, mp mediaPlaylist,
	use func([]byte) (bool, error)) error {
	queue, seen := startParts(mp.parts), map[string]bool{}
	for _, p := range mp.parts {
		seen[p.uri] = true
	}
	for ctx.Err() == nil {
		if len(queue) == 0 { // nothing to start from yet: wait for the next part
			if mp.hint == "" {
				return errors.New("hls: playlist has no preload hint (not Low-Latency HLS?)")
			}
			queue, seen[mp.hint] = []string{mp.hint}, true
		}
		for _, u := range queue {
			b, err := get(ctx, client, u)
			if err != nil {
				return err
			}
			if done, err := use(b); done || err != nil {
				return err
			}
		}
		pl, err := get(ctx, client, mediaURL)
		if err != nil {
			return err
		}
		mp = parseMedia(mediaURL, pl)
		queue = unseen(mp.parts, seen)
	}
	return ctx.Err()
}

// unseen lists the parts not fetched yet, in order, and marks them seen.
func unseen(parts []hlsPart, seen map[string]bool) []string {
	var out []string
	for _, p := range parts {
		if !seen[p.uri] {
			out = append(out, p.uri)
			seen[p.uri] = true
		}
	}
	return out
}

// feedPart decodes the video samples of one fMP4 part; true once a
// picture came out.
func feedPart(sw *stopwatch, w *frameWaiter, track int, b []byte) (bool, error) {
	var parts fmp4.Parts
	if err := parts.Unmarshal(b); err != nil {
		return false, fmt.Errorf("hls part: %w", err)
	}
	for _, p := range parts {
		for _, t := range p.Tracks {
			if t.ID != track {
				continue
			}
			for _, s := range t.Samples {
				var au h264.AVCC
				if err := au.Unmarshal(s.Payload); err != nil {
					return false, fmt.Errorf("hls sample: %w", err)
				}
				if ok, err := sw.unit(w, au); ok || err != nil {
					return ok, err
				}
			}
		}
	}
	return false, nil
}

package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/transcode"
)

const defaultFPS = 30

// output turns decoded frames (or relayed packets) into access units on
// the hub. It outlives sessions, so a reconnect keeps the encoder, the
// stream parameters and a continuous timeline.
type output struct {
	// mu serialises the session goroutine and the slate on the encoder
	// and the timeline.
	mu    sync.Mutex
	slate *slate
	hub   *hub.Hub
	cfg   config.Encoder
	stage FrameStage
	tap   *jpegTap // nil without MJPEG/snapshot output
	obs   Observer
	stats *stats
	log   *slog.Logger
	tl    *Timeline

	inFPS   float64
	inCodec media.Codec
	inW     int
	inH     int

	enc     *transcode.Encoder
	conv    *transcode.Converter
	convFmt astiav.PixelFormat
	encW    int // output size, fixed by the first frame
	encH    int
	pkt     *astiav.Packet
	info    *media.StreamInfo
	audio   *audioTrack // nil without sound
	// audioWant is the codec the source asks its sound in ("": the
	// camera's own).
	audioWant media.Codec
	// describeAgain: the audio track changed; the next IDR gets a new
	// stream description.
	describeAgain bool
	nextDue       int64 // output frame-rate limiter, output clock
	// lastForcedIDR is when a reader's keyframe request was last honoured.
	lastForcedIDR time.Time
	received      time.Time
}

func newOutput(h *hub.Hub, cfg config.Encoder, stage FrameStage, st *stats, log *slog.Logger) *output {
	return &output{hub: h, cfg: cfg, stage: stage, stats: st, log: log, tl: NewTimeline(), pkt: astiav.AllocPacket()}
}

// beginInput is called for each new session: timestamps continue.
func (o *output) beginInput(v transcode.VideoInfo, a transcode.AudioInfo, hasAudio bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.beginAudio(a, hasAudio, o.audioWant)
	o.inFPS = v.FPS
	if o.inFPS <= 0 || o.inFPS > 240 {
		o.inFPS = defaultFPS
	}
	o.inW, o.inH = v.Width, v.Height
	o.inCodec = media.CodecH264
	if v.CodecID == astiav.CodecIDHevc {
		o.inCodec = media.CodecH265
	}
	o.tl.SetInput(v.TimeBase.Num(), v.TimeBase.Den(), o.inFPS)
}

// writeFrame maps, samples, converts and, while someone watches, encodes
// one decoded frame; received is when its packet arrived (zero if unknown).
func (o *output) writeFrame(f *astiav.Frame, received time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopSlateLocked() // real video is back
	pts := o.tl.Map(f.Pts(), f.Pts() != astiav.NoPtsValue)
	if o.skipForRate(pts) {
		return nil
	}
	frame, err := o.prepare(f)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := o.runStage(frame, pts); err != nil {
		return err
	}
	o.tap.offer(frame, pts)
	encStart := time.Now()
	o.obs.Stage(encStart.Sub(start))
	if o.enc == nil {
		return nil // nobody watches: the frame served vision and pictures
	}
	frame.SetPts(pts)
	frame.SetPictureType(o.pictureType())
	if err := o.enc.SendFrame(frame); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	o.received = received
	err = o.drainEncoder(true)
	o.obs.Encode(time.Since(encStart))
	return err
}

// prepare fixes the output size at the first frame, starts or stops the
// encoder with demand, and converts f to the output size and format.
func (o *output) prepare(f *astiav.Frame) (*astiav.Frame, error) {
	if o.encW == 0 {
		o.encW, o.encH = o.outputSize(f.Width(), f.Height())
	}
	if err := o.followDemand(f.PixelFormat()); err != nil {
		return nil, err
	}
	o.ensureConverter()
	return o.conv.Convert(f)
}

// followDemand opens the encoder while the hub is wanted and closes it
// once nobody wants it (after the hub's grace period).
func (o *output) followDemand(pix astiav.PixelFormat) error {
	wanted := o.hub.Wanted()
	switch {
	case wanted && o.enc == nil:
		return o.openEncoder(pix)
	case !wanted && o.enc != nil:
		o.closeEncoder()
		o.log.Info("encoder stopped: nobody watching")
	}
	return nil
}

// ensureConverter converts to the encoder's pixel format, or to 4:2:0 for
// the frame stage while no encoder runs.
func (o *output) ensureConverter() {
	pf := astiav.PixelFormatYuv420P
	if o.enc != nil {
		pf = o.enc.PixelFormat()
	}
	if o.conv != nil && o.convFmt == pf {
		return
	}
	if o.conv != nil {
		o.conv.Close()
	}
	o.conv, o.convFmt = transcode.NewConverter(o.encW, o.encH, pf), pf
}

// runStage hands the frame to the frame stage: to draw on while someone
// will see it, else only to look at (no copy to make it writable).
func (o *output) runStage(frame *astiav.Frame, pts int64) error {
	if o.stage == nil {
		return nil
	}
	seen := o.enc != nil || o.tap.active()
	if seen {
		if err := transcode.MakeWritable(frame); err != nil {
			return err
		}
	}
	v, err := transcode.FrameView(frame, pts)
	if err != nil {
		return err
	}
	if seen {
		o.stage.Process(&v)
	} else {
		o.stage.Observe(&v)
	}
	return nil
}

// minForcedIDR spaces the IDRs forced for new readers: many readers joining
// at once cost a few keyframes, not one per frame.
const minForcedIDR = 200 * time.Millisecond

// pictureType forces an IDR when a new reader asked for one, else lets
// the encoder place keyframes.
func (o *output) pictureType() astiav.PictureType {
	if time.Since(o.lastForcedIDR) < minForcedIDR || !o.hub.TakeKeyframeRequest() {
		return astiav.PictureTypeNone
	}
	o.lastForcedIDR = time.Now()
	return astiav.PictureTypeI
}

// rest stops the encoder when the session stops decoding: no frame will
// come to stop it.
func (o *output) rest() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.followDemand(astiav.PixelFormatYuv420P); err != nil {
		o.log.Warn("encoder", "err", err)
	}
}

// needsFrames tells the session whether to decode: for the frame stage
// (vision), for pictures or for readers of the encoded video.
func (o *output) needsFrames() bool {
	return o.stage != nil || o.tap.active() || o.hub.Wanted()
}

// skipForRate drops frames to honour a configured output frame rate.
func (o *output) skipForRate(pts int64) bool {
	if o.cfg.FPS <= 0 || o.cfg.FPS >= o.inFPS {
		return false
	}
	step := int64(media.ClockRate / o.cfg.FPS)
	if pts+step/2 < o.nextDue {
		return true
	}
	o.nextDue = max(o.nextDue+step, pts)
	return false
}

// outputSize applies the configured size, keeping the aspect ratio when
// only one side is set, and keeps both sides even for 4:2:0.
func (o *output) outputSize(w, h int) (int, int) {
	cw, ch := o.cfg.Width, o.cfg.Height
	switch {
	case cw > 0 && ch > 0:
		w, h = cw, ch
	case cw > 0:
		w, h = cw, int(math.Round(float64(h)*float64(cw)/float64(w)))
	case ch > 0:
		w, h = int(math.Round(float64(w)*float64(ch)/float64(h))), ch
	}
	return max(w&^1, 2), max(h&^1, 2)
}

func (o *output) fps() float64 {
	if o.cfg.FPS > 0 && o.cfg.FPS < o.inFPS {
		return o.cfg.FPS
	}
	return o.inFPS
}

// openEncoder starts an encoder at the output size fixed by the first
// frame: a camera that changes resolution is scaled to it, so readers keep
// a stream they can decode. A new encoder starts on an IDR.
func (o *output) openEncoder(pix astiav.PixelFormat) error {
	fps := o.fps()
	enc, err := transcode.NewEncoder(transcode.EncoderOptions{
		Codec: o.cfg.Codec, Width: o.encW, Height: o.encH, PixelFormat: pix,
		FPS: astiav.NewRational(int(math.Round(fps*1000)), 1000), TimeBase: astiav.NewRational(1, media.ClockRate),
		Preset: o.cfg.Preset, Tune: o.cfg.Tune, BitrateKbps: o.cfg.Bitrate, CRF: o.cfg.CRF,
		GOP: max(1, int(math.Round(o.cfg.Keyint.D.Seconds()*fps))),
	})
	if err != nil {
		return fmt.Errorf("%w: opening encoder: %w", errPermanent, err)
	}
	o.enc = enc
	o.info = nil
	o.stats.setEncoder(enc.Info())
	o.stats.encoding.Store(true)
	o.stats.encStarts.Add(1)
	o.log.Info("encoder opened", "encoder", enc.Info().Name, "size", fmt.Sprintf("%dx%d", o.encW, o.encH),
		"fps", fps, "reason", enc.Info().Reason)
	return nil
}

// drainEncoder publishes what the encoder has; real is false for slate
// frames, which do not count as the source's output.
func (o *output) drainEncoder(real bool) error {
	for {
		err := o.enc.ReceivePacket(o.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("encoding: %w", err)
		}
		o.publish(o.pkt.Data(), media.CodecH264, o.encW, o.encH, o.pkt.Pts(), o.pkt.Dts(), real)
		o.pkt.Unref()
	}
}

// publish copies one Annex B access unit out of libav memory and hands it
// to the hub. Units before the first parameter sets are dropped: no
// reader could decode them.
func (o *output) publish(data []byte, codec media.Codec, w, h int, pts, dts int64, real bool) {
	data = bytes.Clone(data)
	nalus := media.SplitAnnexB(data, nil)
	idr, ps := scanNALUs(codec, nalus)
	if idr {
		o.describe(ps, codec, w, h)
	}
	if o.info == nil {
		return
	}
	o.hub.Publish(&media.AccessUnit{Info: o.info, NALUs: nalus, PTS: pts, DTS: dts, IDR: idr, Received: o.received})
	if real {
		now := time.Now()
		o.stats.frameOut(now)
		if !o.received.IsZero() {
			o.obs.Latency(now.Sub(o.received))
		}
	}
}

// describe makes a new stream description at an IDR whose parameter sets
// differ, or after the audio track changed; sets the IDR lacks are kept.
func (o *output) describe(ps paramSets, codec media.Codec, w, h int) {
	if !ps.changes(o.info) && !o.describeAgain {
		return
	}
	base := media.StreamInfo{Codec: codec, Width: w, Height: h, FPS: o.fps()}
	if o.info != nil {
		base.VPS, base.SPS, base.PPS = o.info.VPS, o.info.SPS, o.info.PPS
	}
	if o.audio != nil {
		base.Audio, base.Converted = o.audio.info, altInfos(o.audio)
	}
	if ps.sps == nil && base.SPS == nil {
		return
	}
	o.info, o.describeAgain = ps.merge(base), false
}

func (o *output) closeEncoder() {
	if o.enc != nil {
		o.enc.Close()
		o.enc = nil
		o.stats.encoding.Store(false)
	}
}

func (o *output) closeConverter() {
	if o.conv != nil {
		o.conv.Close()
		o.conv = nil
	}
}

func (o *output) close() {
	o.waitSlate()
	o.closeEncoder()
	o.closeConverter()
	o.closeAudio()
	if o.pkt != nil {
		o.pkt.Free()
		o.pkt = nil
	}
}

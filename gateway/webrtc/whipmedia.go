package webrtc

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/visiongate/visiongate/media"
)

const (
	// rtpBuffer holds one received packet (pion's receive MTU is 1460).
	rtpBuffer = 1500
	// maxLatePackets and maxLateTime bound how long a frame waits for a
	// lost packet's retransmission (NACK) before it is given up; the
	// packets cover a 4K keyframe.
	maxLatePackets = 2048
	maxLateTime    = 500 * time.Millisecond
	opusRate       = 48000
)

// onTrack reads the first video track and the first Opus track on
// pion's goroutine for it; others are drained.
func (w *ingestSession) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if !w.enter() {
		return
	}
	defer w.readers.Done()
	switch {
	case tr.Kind() == webrtc.RTPCodecTypeVideo && w.videoTaken.CompareAndSwap(false, true):
		w.readVideo(tr)
	case tr.Kind() == webrtc.RTPCodecTypeAudio && w.offer.opus && w.audioTaken.CompareAndSwap(false, true):
		w.readAudio(tr)
	default:
		w.log.Debug("webrtc: ignoring a publisher track", "kind", tr.Kind().String(), "codec", tr.Codec().MimeType)
		for w.readPacket(tr) != nil {
		}
	}
}

// enter counts a reader unless the session is closing.
func (w *ingestSession) enter() bool {
	w.readersMu.Lock()
	defer w.readersMu.Unlock()
	if w.closing {
		return false
	}
	w.readers.Add(1)
	return true
}

// readPacket returns the track's next packet, skipping ones that do not
// parse; nil once the connection is closed.
func (w *ingestSession) readPacket(tr *webrtc.TrackRemote) *rtp.Packet {
	for {
		b := make([]byte, rtpBuffer) // the frame assembler keeps the packet
		n, _, err := tr.Read(b)
		if err != nil {
			return nil
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(b[:n]) == nil {
			return &pkt
		}
	}
}

// readVideo assembles the video into frames and writes them from the
// first keyframe on, publishing there.
func (w *ingestSession) readVideo(tr *webrtc.TrackRemote) {
	codec := w.offer.codec
	if c, ok := codecOfMime(tr.Codec().MimeType); ok {
		codec = c // what is negotiated, should the answer have named more
	}
	w.videoSSRC.Store(uint32(tr.SSRC()))
	w.askKeyframe(0)
	a := newAssembler(codec)
	for {
		pkt := w.readPacket(tr)
		if pkt == nil {
			return
		}
		now := time.Now()
		w.lastVideo.Store(now.UnixNano())
		for _, f := range a.push(pkt, w.sinceEpoch(now)) {
			if !w.writeVideo(codec, f) {
				return
			}
		}
	}
}

// codecOfMime names a negotiated video codec we take.
func codecOfMime(mime string) (media.Codec, bool) {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return media.CodecVP8, true
	case "video/vp9":
		return media.CodecVP9, true
	case "video/av1":
		return media.CodecAV1, true
	case "video/h264":
		return media.CodecH264, true
	}
	return "", false
}

// writeVideo hands a frame to the publisher; it returns false once the
// session cannot go on (refused or ended publisher).
func (w *ingestSession) writeVideo(codec media.Codec, f frame) bool {
	if f.lost { // what follows refers to what is missing
		w.needKey.Store(true)
		w.askKeyframe(pliMinInterval)
	}
	if w.needKey.Load() && !f.key {
		return true
	}
	w.needKey.Store(false)
	pub := w.pub.Load()
	if pub == nil {
		pub = w.publish(&media.Track{Codec: codec, ClockRate: media.ClockRate, Width: f.width,
			Height: f.height, Config: f.config})
		if pub == nil {
			return false
		}
	}
	return pub.WritePacket(media.Packet{PTS: f.pts, DTS: f.pts, Key: f.key, Data: f.data}) == nil
}

// readAudio writes one Opus packet per RTP packet once the publisher is
// announced; what comes before is dropped.
func (w *ingestSession) readAudio(tr *webrtc.TrackRemote) {
	var clock rtpClock
	for {
		pkt := w.readPacket(tr)
		if pkt == nil {
			return
		}
		if len(pkt.Payload) == 0 {
			continue // padding
		}
		pts := clock.pts(pkt.Timestamp, w.sinceEpoch(time.Now()), opusRate)
		if pub := w.pub.Load(); pub != nil {
			// It fails once the publisher has ended; run closes the session then.
			_ = pub.WritePacket(media.Packet{Audio: true, PTS: pts, DTS: pts, Key: true, Data: pkt.Payload})
		}
	}
}

func (w *ingestSession) sinceEpoch(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, w.epoch.Load()))
}

// rtpClock turns a track's RTP timestamps into PTS: its first packet is
// placed at its arrival since the connection, so that the audio and the
// video line up; later ones follow their timestamps, unwrapped.
type rtpClock struct {
	set    bool
	ref    uint32 // the last timestamp seen
	refPTS int64
}

func (c *rtpClock) pts(ts uint32, arrival time.Duration, rate int64) int64 {
	if !c.set {
		c.set, c.ref, c.refPTS = true, ts, int64(arrival)*rate/int64(time.Second)
	}
	c.refPTS += int64(int32(ts - c.ref))
	c.ref = ts
	return c.refPTS
}

// frame is one assembled video frame.
type frame struct {
	data          []byte
	pts           int64
	key           bool
	lost          bool // packets before it were lost
	width, height int  // on keyframes, when the codec tells (0: unknown)
	config        []byte
}

// assembler turns a video track's packets into frames: pion's sample
// builder orders them (retransmissions come late) and cuts frames on the
// marker bit or a new timestamp; the codec says which are keyframes.
type assembler struct {
	codec media.Codec
	sb    *samplebuilder.SampleBuilder
	clock rtpClock
	// sps and pps are H.264's last parameter sets, put in front of a
	// keyframe that lacks them.
	sps, pps []byte
}

func newAssembler(codec media.Codec) *assembler {
	var d rtp.Depacketizer
	switch codec {
	case media.CodecVP8:
		d = &codecs.VP8Packet{}
	case media.CodecVP9:
		d = &codecs.VP9Packet{}
	case media.CodecAV1:
		d = &codecs.AV1Depacketizer{}
	default:
		d = &codecs.H264Packet{} // Annex B out
	}
	return &assembler{codec: codec, sb: samplebuilder.New(maxLatePackets, paddingAware{d}, media.ClockRate,
		samplebuilder.WithMaxTimeDelay(maxLateTime))}
}

// push takes one packet and returns the frames it completes.
func (a *assembler) push(pkt *rtp.Packet, arrival time.Duration) []frame {
	if !a.clock.set {
		a.clock.pts(pkt.Timestamp, arrival, media.ClockRate)
	}
	a.sb.Push(pkt)
	var out []frame
	for s := a.sb.Pop(); s != nil; s = a.sb.Pop() {
		if len(s.Data) == 0 {
			continue // padding
		}
		f := frame{data: s.Data, lost: s.PrevDroppedPackets > 0, pts: a.clock.pts(s.PacketTimestamp, 0, 0)}
		a.inspect(&f)
		out = append(out, f)
	}
	return out
}

// inspect finds whether a frame is a keyframe, and its picture size.
func (a *assembler) inspect(f *frame) {
	switch a.codec {
	case media.CodecVP8:
		f.key, f.width, f.height = vp8Key(f.data)
	case media.CodecVP9:
		var h vp9.Header
		if h.Unmarshal(f.data) == nil && !h.NonKeyFrame && !h.ShowExistingFrame {
			f.key, f.width, f.height = true, h.Width(), h.Height()
		}
	case media.CodecAV1:
		f.key, f.width, f.height = av1Key(f.data)
	default:
		a.inspectH264(f)
	}
}

// vp8Key reads a VP8 frame tag (RFC 6386 section 9.1): bit 0 clear is a
// keyframe, whose start code 9d 01 2a precedes 14-bit width and height.
func vp8Key(b []byte) (key bool, width, height int) {
	if len(b) < 10 || b[0]&1 != 0 {
		return false, 0, 0
	}
	if b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
		return true, 0, 0
	}
	return true, int(binary.LittleEndian.Uint16(b[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(b[8:]) & 0x3fff)
}

// av1Key finds a sequence header, which Chromium and libaom send with
// every keyframe, and the largest picture it allows.
func av1Key(b []byte) (key bool, width, height int) {
	var bs av1.Bitstream
	if bs.Unmarshal(b) != nil {
		return false, 0, 0
	}
	for _, obu := range bs {
		if len(obu) > 0 && av1.OBUType((obu[0]>>3)&0xf) == av1.OBUTypeSequenceHeader {
			var sh av1.SequenceHeader
			if sh.Unmarshal(obu) == nil {
				return true, sh.Width(), sh.Height()
			}
			return true, 0, 0
		}
	}
	return false, 0, 0
}

// inspectH264 keeps the parameter sets and puts them in front of an IDR
// that lacks them, as decoders that join there need.
func (a *assembler) inspectH264(f *frame) {
	nalus := media.SplitAnnexB(f.data, nil)
	for _, n := range nalus {
		switch media.NALUType(media.CodecH264, n) {
		case media.H264NALSPS:
			a.sps = append(a.sps[:0], n...)
		case media.H264NALPPS:
			a.pps = append(a.pps[:0], n...)
		}
	}
	if !h264.IsRandomAccess(nalus) {
		return
	}
	f.key = true
	info := &media.StreamInfo{Codec: media.CodecH264, SPS: a.sps, PPS: a.pps}
	f.data = annexB(media.WithParams(info, &media.AccessUnit{NALUs: nalus, IDR: true}, nil))
	if len(a.sps) > 0 && len(a.pps) > 0 {
		f.config = annexB([][]byte{a.sps, a.pps})
	}
	var sps h264.SPS
	if sps.Unmarshal(a.sps) == nil {
		f.width, f.height = sps.Width(), sps.Height()
	}
}

// annexB joins NAL units with 4-byte start codes, into a new slice.
func annexB(nalus [][]byte) []byte {
	n := 0
	for _, u := range nalus {
		n += 4 + len(u)
	}
	out := make([]byte, 0, n)
	for _, u := range nalus {
		out = append(out, 0, 0, 0, 1)
		out = append(out, u...)
	}
	return out
}

// paddingAware lets padding-only packets (no payload: the sender probes
// bandwidth) through the sample builder as empty frames, which would
// otherwise count them as lost packets.
type paddingAware struct{ rtp.Depacketizer }

func (d paddingAware) IsPartitionHead(payload []byte) bool {
	return len(payload) == 0 || d.Depacketizer.IsPartitionHead(payload)
}

func (d paddingAware) Unmarshal(payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return nil, nil
	}
	return d.Depacketizer.Unmarshal(payload)
}

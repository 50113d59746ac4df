package webrtc

import (
	"crypto/rand"
	"encoding/binary"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/visiongate/visiongate/media"
)

const (
	// payloadMTU keeps packets within pion's 1200-byte outbound MTU,
	// RTP header included, which passes any path.
	payloadMTU = 1200 - 12
	// g711Chunk is the most G.711 bytes a packet carries (120 ms).
	g711Chunk = 960
)

// rtpWriter numbers a track's packets and stamps them from PTS; the
// track fills in SSRC and payload type.
type rtpWriter struct {
	track *webrtc.TrackLocalStaticRTP
	seq   uint16
	ts0   uint32 // random start (RFC 3550)
}

func newRTPWriter(c webrtc.RTPCodecCapability, kind, stream string) (rtpWriter, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(c, kind, stream)
	var r [6]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand)
	return rtpWriter{track: t, seq: binary.BigEndian.Uint16(r[:2]), ts0: binary.BigEndian.Uint32(r[2:])}, err
}

// send writes one frame's payloads at ts; marker ends a video frame.
func (w *rtpWriter) send(payloads [][]byte, ts uint32, marker bool) error {
	for i, pl := range payloads {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker && i == len(payloads)-1,
			SequenceNumber: w.seq, Timestamp: ts}, Payload: pl}
		w.seq++
		if err := w.track.WriteRTP(pkt); err != nil {
			return err
		}
	}
	return nil
}

// videoSender packetizes the hub's H.264 as it is, from an IDR on, with
// the parameter sets in front of every IDR.
type videoSender struct {
	rtpWriter
	pay      codecs.H264Payloader
	started  bool
	nalus    [][]byte // scratch
	payloads [][]byte // scratch
}

func newVideoSender(f format, stream string) (*videoSender, error) {
	w, err := newRTPWriter(f.capability("video"), "video", stream)
	return &videoSender{rtpWriter: w}, err
}

func (s *videoSender) write(au *media.AccessUnit) error {
	if au.Info == nil || au.Info.Codec != media.CodecH264 || !s.started && !au.IDR {
		return nil
	}
	s.started = true
	s.nalus = media.WithParams(au.Info, au, s.nalus)
	s.payloads = s.payloads[:0]
	for _, n := range s.nalus {
		// One NAL unit at a time, without start code: the payloader keeps
		// SPS and PPS and sends them as one STAP-A before the IDR.
		s.payloads = append(s.payloads, s.pay.Payload(payloadMTU, n)...)
	}
	return s.send(s.payloads, s.ts0+uint32(au.PTS), true)
}

// audioSender sends the source's Opus or G.711 packets as they are.
type audioSender struct {
	rtpWriter
	codec media.Codec
	rate  int64 // RTP clock
}

func newAudioSender(f format, codec media.Codec, stream string) (*audioSender, error) {
	w, err := newRTPWriter(f.capability("audio"), "audio", stream)
	return &audioSender{rtpWriter: w, codec: codec, rate: int64(f.clock)}, err
}

func (s *audioSender) write(au *media.AccessUnit) error {
	if au.Audio.Codec != s.codec {
		return nil // the track changed under us: not what we negotiated
	}
	ts := s.ts0 + uint32(au.PTS*s.rate/media.ClockRate)
	for _, f := range au.Frames {
		if s.codec == media.CodecOpus {
			if err := s.send([][]byte{f}, ts, false); err != nil {
				return err
			}
			ts += opusSamples(f)
			continue
		}
		for len(f) > 0 { // G.711: a byte a sample
			n := min(len(f), g711Chunk)
			if err := s.send([][]byte{f[:n]}, ts, false); err != nil {
				return err
			}
			ts, f = ts+uint32(n), f[n:]
		}
	}
	return nil
}

// opusSamples is an Opus packet's duration at 48 kHz, from its TOC byte
// (RFC 6716 section 3.1); 20 ms when it cannot tell.
func opusSamples(pkt []byte) uint32 {
	if len(pkt) == 0 {
		return 960
	}
	config := pkt[0] >> 3
	var frame uint32
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]uint32{480, 960, 1920, 2880}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		frame = [2]uint32{480, 960}[config%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]uint32{120, 240, 480, 960}[config%4]
	}
	switch pkt[0] & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	}
	if len(pkt) < 2 {
		return 960
	}
	return uint32(pkt[1]&0x3f) * frame
}

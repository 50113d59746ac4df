package rtsp

import (
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/media"
)

// audioPayloadType is the dynamic RTP payload type of the audio format.
const audioPayloadType = 97

// audioTrack packetizes a source's sound, in its own codec, on the
// stream's second media.
type audioTrack struct {
	medi     *description.Media
	rate     int64 // RTP clock rate
	encode   func(frames [][]byte) ([]*rtp.Packet, error)
	tsOffset uint32
}

func newAudioTrack(a *media.AudioInfo) (*audioTrack, error) {
	forma, encode, err := audioFormat(a)
	if err != nil {
		return nil, err
	}
	return &audioTrack{
		medi:     &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{forma}},
		rate:     int64(forma.ClockRate()),
		encode:   encode,
		tsOffset: randomUint32(),
	}, nil
}

// audioFormat maps a codec to its RTP format and packetizer.
func audioFormat(a *media.AudioInfo) (format.Format, func([][]byte) ([]*rtp.Packet, error), error) {
	switch a.Codec {
	case media.CodecAAC:
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(a.Config); err != nil {
			return nil, nil, err
		}
		f := &format.MPEG4Audio{PayloadTyp: audioPayloadType, Config: &conf, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		enc, err := f.CreateEncoder()
		return f, func(fr [][]byte) ([]*rtp.Packet, error) { return enc.Encode(fr) }, err
	case media.CodecPCMA, media.CodecPCMU:
		f := &format.G711{PayloadTyp: g711PayloadType(a), MULaw: a.Codec == media.CodecPCMU,
			SampleRate: a.SampleRate, ChannelCount: a.Channels}
		enc, err := f.CreateEncoder()
		return f, func(fr [][]byte) ([]*rtp.Packet, error) { return enc.Encode(concat(fr)) }, err
	case media.CodecOpus:
		f := &format.Opus{PayloadTyp: audioPayloadType, ChannelCount: a.Channels}
		enc, err := f.CreateEncoder()
		return f, func(fr [][]byte) ([]*rtp.Packet, error) { return onePerFrame(fr, enc.Encode) }, err
	case media.CodecMP3:
		f := &format.MPEG1Audio{}
		enc, err := f.CreateEncoder()
		return f, func(fr [][]byte) ([]*rtp.Packet, error) { return enc.Encode(fr) }, err
	case media.CodecAC3:
		f := &format.AC3{PayloadTyp: audioPayloadType, SampleRate: a.SampleRate, ChannelCount: a.Channels}
		enc, err := f.CreateEncoder()
		return f, func(fr [][]byte) ([]*rtp.Packet, error) { return enc.Encode(fr) }, err
	}
	return nil, nil, UnsupportedCodecError{Codec: a.Codec}
}

// g711PayloadType is RFC 3551's static type for 8 kHz mono, else dynamic.
func g711PayloadType(a *media.AudioInfo) uint8 {
	switch {
	case a.SampleRate != 8000 || a.Channels != 1:
		return audioPayloadType
	case a.Codec == media.CodecPCMU:
		return 0
	}
	return 8
}

func concat(frames [][]byte) []byte {
	if len(frames) == 1 {
		return frames[0]
	}
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	return b
}

// onePerFrame packetizes frames one packet each (Opus), in sequence.
func onePerFrame(frames [][]byte, enc func([]byte) (*rtp.Packet, error)) ([]*rtp.Packet, error) {
	pkts := make([]*rtp.Packet, 0, len(frames))
	for _, f := range frames {
		p, err := enc(f)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// packets packetizes one audio unit and returns the RTP time of its
// start; the packetizer's timestamps are relative to the first frame.
func (t *audioTrack) packets(au *media.AccessUnit) ([]*rtp.Packet, uint32, error) {
	pkts, err := t.encode(au.Frames)
	if err != nil {
		return nil, 0, err
	}
	ts := t.tsOffset + uint32(au.PTS*t.rate/media.ClockRate)
	for _, p := range pkts {
		p.Timestamp += ts
	}
	return pkts, ts, nil
}

// ptsClock places PTS on the wall clock: the first PTS it sees is now.
type ptsClock struct {
	base    time.Time
	basePTS int64
	set     bool
}

func (c *ptsClock) at(pts int64) time.Time {
	if !c.set {
		c.base, c.basePTS, c.set = time.Now(), pts, true
	}
	return c.base.Add(media.Duration(pts - c.basePTS))
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return binary.BigEndian.Uint32(b[:])
}

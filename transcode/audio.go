package transcode

import (
	"context"

	"github.com/asticode/go-astiav"
)

// AudioInfo describes the selected audio track.
type AudioInfo struct {
	CodecID    astiav.CodecID
	Codec      string
	SampleRate int
	Channels   int
	TimeBase   astiav.Rational
	// ExtraData is the codec's configuration (AAC: AudioSpecificConfig);
	// a copy, safe to keep. Empty for AAC in ADTS (MPEG-TS): Profile
	// then tells the object type (libav's profile, AAC LC = 1).
	ExtraData []byte
	Profile   int
	// Params are the stream's codec parameters, owned by the Input.
	Params *astiav.CodecParameters
}

// audioCodecs are the codecs the outputs can carry as they are.
var audioCodecs = map[astiav.CodecID]bool{
	astiav.CodecIDAac: true, astiav.CodecIDOpus: true, astiav.CodecIDPcmAlaw: true,
	astiav.CodecIDPcmMulaw: true, astiav.CodecIDMp3: true, astiav.CodecIDAc3: true,
}

// selectAudio picks the first audio track in a codec the outputs carry;
// an input without one plays without sound.
func (in *Input) selectAudio() {
	for _, s := range in.fc.Streams() {
		p := s.CodecParameters()
		if p.MediaType() != astiav.MediaTypeAudio || !audioCodecs[p.CodecID()] || p.SampleRate() <= 0 {
			continue
		}
		ch := p.ChannelLayout().NbChannels()
		if ch <= 0 {
			ch = p.Channels()
		}
		in.audio = s
		in.audioInfo = AudioInfo{CodecID: p.CodecID(), Codec: p.CodecID().Name(), SampleRate: p.SampleRate(),
			Channels: max(ch, 1), TimeBase: s.TimeBase(), ExtraData: append([]byte(nil), p.ExtraData()...),
			Profile: int(p.Profile()), Params: p}
		return
	}
}

// Audio describes the selected audio track; ok is false without one.
func (in *Input) Audio() (AudioInfo, bool) { return in.audioInfo, in.audio != nil }

// IsAudio tells whether a packet from ReadPacket belongs to the audio track.
func (in *Input) IsAudio(pkt *astiav.Packet) bool {
	return in.audio != nil && pkt.StreamIndex() == in.audio.Index()
}

// keep tells whether ReadPacket returns pkt, and readies an audio packet:
// loop offsets and pacing follow its own time base.
func (in *Input) keep(ctx context.Context, pkt *astiav.Packet) (bool, error) {
	tb := in.info.TimeBase
	switch {
	case pkt.StreamIndex() == in.stream.Index():
		in.loop.adjust(pkt)
	case in.IsAudio(pkt):
		tb = in.audioInfo.TimeBase
		in.loop.shift(pkt, in.info.TimeBase, tb)
	default:
		return false, nil
	}
	if in.opts.RealTime {
		if err := in.pacer.wait(ctx, pkt, tb); err != nil {
			return false, err
		}
	}
	return true, nil
}

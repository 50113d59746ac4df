package pipeline

import (
	"bytes"
	"slices"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/transcode"
)

// audioTrack is a source's audio on its way to the hub: packets keep
// their codec and take the video's output clock. It belongs to output
// (under its mutex) and outlives sessions, like the video timeline.
type audioTrack struct {
	info *media.AudioInfo
	tb   astiav.Rational
	last int64 // last published PTS: audio stays monotonic
	sent bool
}

var audioCodecs = map[astiav.CodecID]media.Codec{
	astiav.CodecIDAac: media.CodecAAC, astiav.CodecIDOpus: media.CodecOpus,
	astiav.CodecIDPcmAlaw: media.CodecPCMA, astiav.CodecIDPcmMulaw: media.CodecPCMU,
	astiav.CodecIDMp3: media.CodecMP3, astiav.CodecIDAc3: media.CodecAC3,
}

// audioInfo describes an input's audio track for the outputs; AAC without
// a configuration (ADTS) gets one built from its parameters.
func audioInfo(a transcode.AudioInfo) *media.AudioInfo {
	info := &media.AudioInfo{Codec: audioCodecs[a.CodecID], SampleRate: a.SampleRate, Channels: a.Channels}
	if info.Codec != media.CodecAAC {
		return info
	}
	info.Config = a.ExtraData
	if len(info.Config) == 0 {
		conf := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectType(max(a.Profile, 1) + 1),
			SampleRate: a.SampleRate, ChannelConfig: uint8(min(a.Channels, 7))}
		info.Config, _ = conf.Marshal()
	}
	return info
}

// beginAudio is called for each new session: a changed audio track makes
// the next IDR carry a new stream description.
func (o *output) beginAudio(a transcode.AudioInfo, ok bool) {
	var info *media.AudioInfo
	if ok {
		info = audioInfo(a)
	}
	var cur *media.AudioInfo
	if o.audio != nil {
		cur = o.audio.info
	}
	if !media.SameAudio(cur, info) {
		o.describeAgain = true
	}
	if info == nil {
		o.audio = nil
		return
	}
	if cur != nil && media.SameAudio(cur, info) {
		info = cur // same track: readers keep their description
	}
	last, sent := int64(0), false
	if o.audio != nil {
		last, sent = o.audio.last, o.audio.sent
	}
	o.audio = &audioTrack{info: info, tb: a.TimeBase, last: last, sent: sent}
}

// writeAudio publishes one audio packet while someone wants the units,
// once the video has set the clock.
func (o *output) writeAudio(p *astiav.Packet) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.audio
	if a == nil || o.info == nil || o.info.Audio != a.info || !o.hub.Wanted() {
		return
	}
	pts, ok := o.tl.Follow(p.Pts(), a.tb.Num(), a.tb.Den())
	if !ok || p.Pts() == astiav.NoPtsValue || (a.sent && pts <= a.last) {
		return
	}
	frames := audioFrames(a.info.Codec, p.Data())
	if len(frames) == 0 {
		return
	}
	a.last, a.sent = pts, true
	o.hub.Publish(&media.AccessUnit{Audio: a.info, Frames: frames, PTS: pts, DTS: pts})
}

// audioFrames copies a packet's codec frames out of libav memory; AAC in
// ADTS framing loses its headers.
func audioFrames(codec media.Codec, data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	if codec == media.CodecAAC && len(data) > 1 && data[0] == 0xff && data[1]&0xf0 == 0xf0 {
		var pkts mpeg4audio.ADTSPackets
		if err := pkts.Unmarshal(data); err != nil {
			return nil
		}
		frames := make([][]byte, len(pkts))
		for i, p := range pkts {
			frames[i] = slices.Clone(p.AU)
		}
		return frames
	}
	return [][]byte{bytes.Clone(data)}
}

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
	last monotonic
	// aac transcodes a codec HLS cannot carry, while an output asks;
	// nil for AAC and Opus.
	aac     *transcode.AACEncoder
	aacInfo *media.AudioInfo
	aacLast monotonic
	// silence for the slate, per track
	silence, aacSilence silence
}

// monotonic keeps a track's timestamps increasing.
type monotonic struct {
	last int64
	sent bool
}

// next reports whether pts may follow, and takes it.
func (m *monotonic) next(pts int64) bool {
	if m.sent && pts <= m.last {
		return false
	}
	m.last, m.sent = pts, true
	return true
}

// hlsCarries tells whether LL-HLS (fMP4) carries a codec as it is.
func hlsCarries(c media.Codec) bool { return c == media.CodecAAC || c == media.CodecOpus }

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
	prev := o.audio
	o.closeAudio()
	o.stats.audio.Store(info)
	if info == nil {
		return
	}
	t := &audioTrack{info: info, tb: a.TimeBase}
	if prev != nil {
		t.last, t.aacLast, t.aacSilence = prev.last, prev.aacLast, prev.aacSilence
		if media.SameAudio(prev.info, info) {
			t.info, t.silence = prev.info, prev.silence // same track: readers keep their description
		}
	}
	o.audio = t
	if !hlsCarries(info.Codec) {
		if prev != nil {
			t.aacInfo = prev.aacInfo
		}
		o.openAAC(a)
	} else if prev != nil && prev.aacInfo != nil {
		o.describeAgain = true
	}
}

// openAAC readies the AAC transcoder and its track description (kept when
// it did not change, so HLS players keep theirs).
func (o *output) openAAC(a transcode.AudioInfo) {
	t := o.audio
	enc, err := transcode.NewAACEncoder(a)
	if err != nil {
		o.log.Warn("audio: no AAC for HLS", "err", err)
		return
	}
	info := &media.AudioInfo{Codec: media.CodecAAC, SampleRate: transcode.AACRate,
		Channels: transcode.AACChannels(a.Channels), Config: enc.Config()}
	if !media.SameAudio(t.aacInfo, info) {
		t.aacInfo, t.aacSilence, o.describeAgain = info, silence{}, true
	}
	t.aac = enc
}

func (o *output) closeAudio() {
	if o.audio != nil && o.audio.aac != nil {
		o.audio.aac.Close()
		o.audio.aac = nil
	}
}

// writeAudio publishes one audio packet while someone wants the units,
// once the video has set the clock.
func (o *output) writeAudio(p *astiav.Packet) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.audio
	toAAC := a != nil && a.aac != nil && o.info != nil && o.info.AudioAAC == a.aacInfo && o.hub.AACWanted()
	o.stats.aacNow.Store(toAAC)
	if a == nil || o.info == nil || o.info.Audio != a.info || !o.hub.Wanted() || p.Pts() == astiav.NoPtsValue {
		return
	}
	pts, ok := o.tl.Follow(p.Pts(), a.tb.Num(), a.tb.Den())
	if !ok {
		return
	}
	if frames := audioFrames(a.info.Codec, p.Data()); len(frames) > 0 && a.last.next(pts) {
		o.hub.Publish(&media.AccessUnit{Audio: a.info, Frames: frames, PTS: pts, DTS: pts})
	}
	if toAAC {
		o.writeAAC(p)
	}
}

// writeAAC transcodes one packet for the outputs that carry only AAC.
func (o *output) writeAAC(p *astiav.Packet) {
	a := o.audio
	err := a.aac.Encode(p, func(au []byte, apts int64) {
		if pts, ok := o.tl.Follow(apts, 1, transcode.AACRate); ok && a.aacLast.next(pts) {
			o.hub.Publish(&media.AccessUnit{Audio: a.aacInfo, Frames: [][]byte{au}, PTS: pts, DTS: pts})
		}
	})
	if err != nil {
		o.log.Debug("audio: transcoding to AAC", "err", err)
	}
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

// silence is one codec frame of silence for a track, made once.
type silence struct {
	frame   []byte
	samples int // per frame
	made    bool
}

func (s *silence) get(info *media.AudioInfo) ([]byte, int) {
	if !s.made {
		s.made = true
		s.frame, s.samples = makeSilence(info)
	}
	return s.frame, s.samples
}

// makeSilence knows silence for G.711 and AAC-LC; other codecs stay quiet
// by having no units while the slate runs.
func makeSilence(info *media.AudioInfo) ([]byte, int) {
	n := info.SampleRate / 50 // 20 ms
	switch info.Codec {
	case media.CodecPCMU:
		return bytes.Repeat([]byte{0xff}, n*info.Channels), n
	case media.CodecPCMA:
		return bytes.Repeat([]byte{0xd5}, n*info.Channels), n
	case media.CodecAAC:
		var conf mpeg4audio.AudioSpecificConfig
		if conf.Unmarshal(info.Config) != nil || conf.Type != mpeg4audio.ObjectTypeAACLC || info.Channels > 2 {
			return nil, 0
		}
		if au, err := transcode.SilentAAC(info.SampleRate, info.Channels); err == nil {
			return au, 1024
		}
	}
	return nil, 0
}

// slateSound fills the slate's time on every audio track with silence,
// from the previous slate frame up to the one at pts.
func (o *output) slateSound(pts int64) {
	a := o.audio
	if a == nil || o.info == nil || !o.hub.Wanted() {
		return
	}
	from := pts - slateInterval.Milliseconds()*media.ClockRate/1000
	if o.info.Audio == a.info {
		o.publishSilence(a.info, &a.last, &a.silence, from, pts)
	}
	if a.aacInfo != nil && o.info.AudioAAC == a.aacInfo && o.hub.AACWanted() {
		o.publishSilence(a.aacInfo, &a.aacLast, &a.aacSilence, from, pts)
	}
}

func (o *output) publishSilence(info *media.AudioInfo, last *monotonic, s *silence, from, to int64) {
	frame, samples := s.get(info)
	if frame == nil || !last.next(from) {
		return
	}
	perFrame := int64(samples) * media.ClockRate / int64(info.SampleRate)
	frames := make([][]byte, (to-from+perFrame-1)/perFrame)
	for i := range frames {
		frames[i] = frame
	}
	o.hub.Publish(&media.AccessUnit{Audio: info, Frames: frames, PTS: from, DTS: from})
}

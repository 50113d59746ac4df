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
// their codec, or are transcoded when the source asks for one, and take
// the video's output clock. It belongs to output (under its mutex) and
// outlives sessions, like the video timeline.
type audioTrack struct {
	camera *media.AudioInfo // what the camera sends
	// info is the track the outputs play: the camera's, or conv's when
	// the source asks for another codec (replace).
	info    *media.AudioInfo
	replace bool
	tb      astiav.Rational
	last    monotonic
	silence silence
	// conv transcodes the camera's sound: into info when replacing, else
	// into aacInfo (a codec HLS cannot carry), while an output asks.
	conv       *transcode.AudioEncoder
	aacInfo    *media.AudioInfo
	aacLast    monotonic
	aacSilence silence
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

// beginAudio is called for each new session: a changed track makes the
// next IDR carry a new stream description. want is the codec the source
// asks for ("" passes the camera's through).
func (o *output) beginAudio(a transcode.AudioInfo, ok bool, want media.Codec) {
	prev := o.audio
	o.closeAudio()
	o.audio = nil
	if ok {
		o.audio = &audioTrack{camera: audioInfo(a), tb: a.TimeBase}
		o.openAudio(a, want, prev)
	}
	o.stats.audio.Store(o.cameraAudio())
	o.stats.audioConv.Store(o.convertedAudio())
	if !media.SameAudio(trackInfo(prev), trackInfo(o.audio)) || !media.SameAudio(aacInfo(prev), aacInfo(o.audio)) {
		o.describeAgain = true
	}
}

// openAudio picks the track the outputs play and readies the transcoder
// it needs; descriptions that did not change are kept, so players keep
// theirs.
func (o *output) openAudio(a transcode.AudioInfo, want media.Codec, prev *audioTrack) {
	t := o.audio
	t.info, t.replace = t.camera, want != "" && want != t.camera.Codec
	if prev != nil {
		t.last, t.aacLast = prev.last, prev.aacLast
	}
	switch {
	case t.replace:
		if t.info = o.openConv(a, want, trackInfo(prev)); t.info == nil {
			t.info, t.replace = t.camera, false // the camera's sound, then
		}
	case !hlsCarries(t.camera.Codec):
		t.aacInfo = o.openConv(a, media.CodecAAC, aacInfo(prev))
	}
	if prev != nil && media.SameAudio(prev.info, t.info) {
		t.info, t.silence = prev.info, prev.silence
	}
	if prev != nil && t.aacInfo != nil && media.SameAudio(prev.aacInfo, t.aacInfo) {
		t.aacInfo, t.aacSilence = prev.aacInfo, prev.aacSilence
	}
}

// openConv opens the transcoder to codec and describes its track; nil
// when it cannot open (logged).
func (o *output) openConv(a transcode.AudioInfo, codec media.Codec, keep *media.AudioInfo) *media.AudioInfo {
	name := transcode.EncodeAAC
	if codec == media.CodecOpus {
		name = transcode.EncodeOpus
	}
	enc, err := transcode.NewAudioEncoder(a, name)
	if err != nil {
		o.log.Warn("audio: cannot transcode", "to", codec, "err", err)
		return nil
	}
	o.audio.conv = enc
	info := &media.AudioInfo{Codec: codec, SampleRate: transcode.AudioRate,
		Channels: transcode.AudioChannels(a.Channels), Config: enc.Config()}
	if codec == media.CodecOpus {
		info.Config = nil // Opus needs none: players read the packets' own
	}
	if media.SameAudio(keep, info) {
		return keep
	}
	return info
}

func trackInfo(t *audioTrack) *media.AudioInfo {
	if t == nil {
		return nil
	}
	return t.info
}

func aacInfo(t *audioTrack) *media.AudioInfo {
	if t == nil {
		return nil
	}
	return t.aacInfo
}

// convertedAudio is the track the transcoder makes, nil without one.
func (o *output) convertedAudio() *media.AudioInfo {
	switch {
	case o.audio == nil || o.audio.conv == nil:
		return nil
	case o.audio.replace:
		return o.audio.info
	}
	return o.audio.aacInfo
}

func (o *output) cameraAudio() *media.AudioInfo {
	if o.audio == nil {
		return nil
	}
	return o.audio.camera
}

func (o *output) closeAudio() {
	if o.audio != nil && o.audio.conv != nil {
		o.audio.conv.Close()
		o.audio.conv = nil
	}
}

// writeAudio publishes one audio packet while someone wants the units,
// once the video has set the clock: as it is, transcoded, or both.
func (o *output) writeAudio(p *astiav.Packet) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.audio
	if a == nil || o.info == nil || o.info.Audio != a.info || p.Pts() == astiav.NoPtsValue || !o.hub.Wanted() {
		o.stats.transcoding.Store(false)
		return
	}
	toAAC := a.aacInfo != nil && o.info.AudioAAC == a.aacInfo && o.hub.AACWanted()
	o.stats.transcoding.Store(a.conv != nil && (a.replace || toAAC))
	switch {
	case a.replace:
		o.writeConverted(p, a.info, &a.last)
		return
	case toAAC:
		o.writeConverted(p, a.aacInfo, &a.aacLast)
	}
	pts, ok := o.tl.Follow(p.Pts(), a.tb.Num(), a.tb.Den())
	if frames := audioFrames(a.camera.Codec, p.Data()); ok && len(frames) > 0 && a.last.next(pts) {
		o.hub.Publish(&media.AccessUnit{Audio: a.info, Frames: frames, PTS: pts, DTS: pts})
	}
}

// writeConverted transcodes one packet into the track info.
func (o *output) writeConverted(p *astiav.Packet, info *media.AudioInfo, last *monotonic) {
	if o.audio.conv == nil {
		return
	}
	err := o.audio.conv.Encode(p, func(frame []byte, apts int64) {
		if pts, ok := o.tl.Follow(apts, 1, transcode.AudioRate); ok && last.next(pts) {
			o.hub.Publish(&media.AccessUnit{Audio: info, Frames: [][]byte{frame}, PTS: pts, DTS: pts})
		}
	})
	if err != nil {
		o.log.Debug("audio: transcoding", "to", info.Codec, "err", err)
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

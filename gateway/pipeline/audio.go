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
	// conv transcodes the camera's sound into info when replacing.
	conv *transcode.AudioEncoder
	// alts are the sound in codecs some outputs need and info is not in
	// (AAC for LL-HLS, Opus for WebRTC), transcoded while one asks.
	alts []*altTrack
}

// altTrack is the camera's sound transcoded for outputs that cannot carry
// the track's own codec.
type altTrack struct {
	info    *media.AudioInfo
	conv    *transcode.AudioEncoder
	last    monotonic
	silence silence
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

// altCodecs are the codecs a track in codec c is also transcoded to, for
// the outputs that cannot carry c: LL-HLS carries AAC and Opus, WebRTC
// Opus and G.711.
func altCodecs(c media.Codec) []media.Codec {
	var alts []media.Codec
	if c != media.CodecAAC && c != media.CodecOpus {
		alts = append(alts, media.CodecAAC)
	}
	if c != media.CodecOpus && c != media.CodecPCMU && c != media.CodecPCMA {
		alts = append(alts, media.CodecOpus)
	}
	return alts
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
	if !media.SameAudio(trackInfo(prev), trackInfo(o.audio)) || !slices.EqualFunc(altInfos(prev), altInfos(o.audio),
		media.SameAudio) {
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
		t.last = prev.last
	}
	if t.replace {
		if t.conv, t.info = o.openConv(a, want, trackInfo(prev)); t.info == nil {
			t.info, t.replace = t.camera, false // the camera's sound, then
		}
	}
	if prev != nil && media.SameAudio(prev.info, t.info) {
		t.info, t.silence = prev.info, prev.silence
	}
	for _, c := range altCodecs(t.info.Codec) {
		old := prev.alt(c)
		conv, info := o.openConv(a, c, old.infoOrNil())
		if info == nil {
			continue
		}
		alt := &altTrack{info: info, conv: conv}
		if old != nil {
			alt.last = old.last
			if old.info == info {
				alt.silence = old.silence
			}
		}
		t.alts = append(t.alts, alt)
	}
}

// openConv opens a transcoder to codec and describes its track (keep,
// when the same); nil when it cannot open (logged).
func (o *output) openConv(a transcode.AudioInfo, codec media.Codec, keep *media.AudioInfo) (*transcode.AudioEncoder,
	*media.AudioInfo) {
	name := transcode.EncodeAAC
	if codec == media.CodecOpus {
		name = transcode.EncodeOpus
	}
	enc, err := transcode.NewAudioEncoder(a, name)
	if err != nil {
		o.log.Warn("audio: cannot transcode", "to", codec, "err", err)
		return nil, nil
	}
	info := &media.AudioInfo{Codec: codec, SampleRate: transcode.AudioRate,
		Channels: transcode.AudioChannels(a.Channels), Config: enc.Config()}
	if codec == media.CodecOpus {
		info.Config = nil // Opus needs none: players read the packets' own
	}
	if media.SameAudio(keep, info) {
		return enc, keep
	}
	return enc, info
}

// alt is the track's transcoding to c, nil without.
func (t *audioTrack) alt(c media.Codec) *altTrack {
	if t == nil {
		return nil
	}
	for _, a := range t.alts {
		if a.info.Codec == c {
			return a
		}
	}
	return nil
}

func (a *altTrack) infoOrNil() *media.AudioInfo {
	if a == nil {
		return nil
	}
	return a.info
}

func trackInfo(t *audioTrack) *media.AudioInfo {
	if t == nil {
		return nil
	}
	return t.info
}

// altInfos describes a track's transcodings.
func altInfos(t *audioTrack) []*media.AudioInfo {
	if t == nil {
		return nil
	}
	infos := make([]*media.AudioInfo, len(t.alts))
	for i, a := range t.alts {
		infos[i] = a.info
	}
	return infos
}

// convertedAudio names the codecs the sound is transcoded to: the one
// replacing the camera's, then those some outputs need.
func (o *output) convertedAudio() *[]media.Codec {
	var codecs []media.Codec
	if o.audio == nil {
		return &codecs
	}
	if o.audio.replace {
		codecs = append(codecs, o.audio.info.Codec)
	}
	for _, a := range o.audio.alts {
		codecs = append(codecs, a.info.Codec)
	}
	return &codecs
}

func (o *output) cameraAudio() *media.AudioInfo {
	if o.audio == nil {
		return nil
	}
	return o.audio.camera
}

func (o *output) closeAudio() {
	if o.audio == nil {
		return
	}
	if o.audio.conv != nil {
		o.audio.conv.Close()
		o.audio.conv = nil
	}
	for _, a := range o.audio.alts {
		a.conv.Close()
	}
	o.audio.alts = nil
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
	if a.replace {
		o.stats.transcoding.Store(true)
		o.writeConverted(p, a.conv, a.info, &a.last)
		return
	}
	transcoding := false
	for _, alt := range a.alts {
		if o.altWanted(alt) {
			transcoding = true
			o.writeConverted(p, alt.conv, alt.info, &alt.last)
		}
	}
	o.stats.transcoding.Store(transcoding)
	pts, ok := o.tl.Follow(p.Pts(), a.tb.Num(), a.tb.Den())
	if frames := audioFrames(a.camera.Codec, p.Data()); ok && len(frames) > 0 && a.last.next(pts) {
		o.hub.Publish(&media.AccessUnit{Audio: a.info, Frames: frames, PTS: pts, DTS: pts})
	}
}

// altWanted tells whether an output asks for a transcoding that the
// current stream description carries.
func (o *output) altWanted(alt *altTrack) bool {
	return o.info.AudioAs(alt.info.Codec) == alt.info && o.hub.AudioWanted(alt.info.Codec)
}

// writeConverted transcodes one packet into the track info.
func (o *output) writeConverted(p *astiav.Packet, conv *transcode.AudioEncoder, info *media.AudioInfo,
	last *monotonic) {
	err := conv.Encode(p, func(frame []byte, apts int64) {
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
	for _, alt := range a.alts {
		if o.altWanted(alt) {
			o.publishSilence(alt.info, &alt.last, &alt.silence, from, pts)
		}
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

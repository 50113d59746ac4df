package hls

import (
	"bytes"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/visiongate/visiongate/media"
)

// UnsupportedCodecError reports a hub codec the configured variant cannot
// carry (MPEG-TS takes H.264 only).
type UnsupportedCodecError struct {
	Codec   media.Codec
	Variant string
}

func (e UnsupportedCodecError) Error() string {
	return fmt.Sprintf("hls: codec %q not supported by the %s variant", e.Codec, e.Variant)
}

// UnknownVariantError reports a Server.Variant that is none of the Variant*
// constants.
type UnknownVariantError struct{ Variant string }

func (e UnknownVariantError) Error() string {
	return fmt.Sprintf("hls: unknown variant %q (want %q, %q or %q)",
		e.Variant, VariantLowLatency, VariantFMP4, VariantMPEGTS)
}

// MuxerError wraps an error returned by gohlslib.
type MuxerError struct{ Err error }

func (e MuxerError) Error() string { return "hls: muxer: " + e.Err.Error() }
func (e MuxerError) Unwrap() error { return e.Err }

// feeder turns a path's access units into muxer writes. It belongs to the
// path's goroutine.
type feeder struct {
	p   *path
	cfg settings
	log *slog.Logger
	cur *stream // nil until the first usable IDR
	// broken: the current muxer refused a unit or timestamps went backwards;
	// replace it at the next IDR.
	broken bool
	errs   uint64
}

// write forwards au, replacing the muxer when au starts a stream with new
// parameters.
// writeHook, when a test sets it, runs before each unit is muxed.
var writeHook func(*media.AccessUnit)

func (f *feeder) write(au *media.AccessUnit) {
	if writeHook != nil {
		writeHook(au)
	}
	if au.Audio != nil {
		if f.cur != nil && !f.broken {
			if err := f.cur.writeAudio(au); err != nil {
				f.warn(err)
			}
		}
		return
	}
	info := au.Info
	if info == nil && f.cur != nil {
		info = f.cur.info
	}
	if info == nil {
		info = f.p.hub.LastKeyframeInfo()
	}
	if f.needRestart(info, au) {
		if !au.IDR || info == nil {
			return // a muxer can only start at an IDR with known parameters
		}
		f.restart(info)
		if f.cur == nil {
			return
		}
	}
	f.cur.info = info // same parameters, maybe a new pointer
	if err := f.cur.write(au); err != nil {
		f.broken = true
		f.warn(err)
		return
	}
	if f.cur.ready() {
		f.p.setReady(f.cur.mux)
	}
}

func (f *feeder) needRestart(info *media.StreamInfo, au *media.AccessUnit) bool {
	switch {
	case f.cur == nil || f.broken:
		return true
	case f.cur.started && au.PTS <= f.cur.lastPTS:
		f.warn(fmt.Errorf("hls: timestamp went backwards (%d after %d): restarting at next IDR",
			au.PTS, f.cur.lastPTS))
		f.broken = true
		return true
	}
	return info != f.cur.info && !sameParams(info, f.cur.info)
}

// restart closes the current muxer and builds one for info. On failure the
// path reports the error to requests until a later IDR succeeds.
func (f *feeder) restart(info *media.StreamInfo) {
	f.close()
	f.broken = false
	st, err := newStream(info, f.cfg)
	if err != nil {
		f.warn(err)
		f.p.setMuxer(nil, err)
		return
	}
	f.cur = st
	f.p.setMuxer(st.mux, nil)
}

// close withdraws and closes the current muxer; blocked requests return.
func (f *feeder) close() {
	if f.cur == nil {
		return
	}
	f.p.setMuxer(nil, nil)
	f.cur.mux.Close()
	f.cur = nil
}

// warn logs on powers of two so a broken source does not flood the log.
func (f *feeder) warn(err error) {
	f.errs++
	if f.errs&(f.errs-1) == 0 {
		f.log.Warn("hls: cannot mux access unit", "err", err, "errors", f.errs)
	}
}

func sameParams(a, b *media.StreamInfo) bool {
	return a.Codec == b.Codec && a.Width == b.Width && a.Height == b.Height &&
		bytes.Equal(a.SPS, b.SPS) && bytes.Equal(a.PPS, b.PPS) && bytes.Equal(a.VPS, b.VPS) &&
		media.SameAudio(a.Audio, b.Audio) && media.SameAudio(a.AudioAs(media.CodecAAC), b.AudioAs(media.CodecAAC))
}

// stream is one muxer and the state needed to feed it.
type stream struct {
	mux       *gohlslib.Muxer
	track     *gohlslib.Track
	audio     *gohlslib.Track // nil without sound the variant carries
	audioInfo *media.AudioInfo
	info      *media.StreamInfo
	startNTP  time.Time
	basePTS   int64 // PTS of the first unit: the muxer's timeline starts at 0
	lastPTS   int64
	started   bool
	nalus     [][]byte // scratch for parameter-set injection

	// A mirror of gohlslib's segmenter, which exports no "has content":
	// a segment closes at the first IDR SegmentMinDuration after its start.
	segMin   time.Duration
	segStart int64
	segments int
	need     int // closed segments gohlslib wants before serving a playlist
}

func newStream(info *media.StreamInfo, cfg settings) (*stream, error) {
	codec, err := trackCodec(info, cfg.variant)
	if err != nil {
		return nil, err
	}
	track := &gohlslib.Track{Codec: codec, ClockRate: media.ClockRate}
	tracks := []*gohlslib.Track{track}
	audioInfo := hlsAudio(info)
	audio, err := audioTrack(audioInfo, cfg.variant)
	if err != nil {
		cfg.log.Info("hls: playing without sound", "err", err)
	} else if audio != nil {
		tracks = append(tracks, audio)
	}
	m := &gohlslib.Muxer{
		Tracks:             tracks,
		Variant:            cfg.variant,
		SegmentCount:       cfg.segmentCount,
		SegmentMinDuration: cfg.segmentMin,
		PartMinDuration:    cfg.partMin,
		OnEncodeError: func(err error) { // iOS-compatibility notices
			cfg.log.Debug("hls: muxer notice", "err", err)
		},
	}
	if err := m.Start(); err != nil {
		return nil, MuxerError{Err: err}
	}
	need := 1
	if cfg.variant == gohlslib.MuxerVariantFMP4 {
		need = 2 // gohlslib serves plain fMP4 playlists from 2 segments
	}
	return &stream{mux: m, track: track, audio: audio, audioInfo: audioInfo, info: info, segMin: cfg.segmentMin,
		need: need}, nil
}

func trackCodec(info *media.StreamInfo, v gohlslib.MuxerVariant) (codecs.Codec, error) {
	switch {
	case info.Codec == media.CodecH264:
		return &codecs.H264{SPS: info.SPS, PPS: info.PPS}, nil
	case info.Codec == media.CodecH265 && v != gohlslib.MuxerVariantMPEGTS:
		return &codecs.H265{VPS: info.VPS, SPS: info.SPS, PPS: info.PPS}, nil
	}
	return nil, UnsupportedCodecError{Codec: info.Codec, Variant: variantName(v)}
}

func variantName(v gohlslib.MuxerVariant) string {
	switch v {
	case gohlslib.MuxerVariantMPEGTS:
		return VariantMPEGTS
	case gohlslib.MuxerVariantFMP4:
		return VariantFMP4
	}
	return VariantLowLatency
}

// write hands au to the muxer with its PTS rebased to the first unit, and
// the wall clock (EXT-X-PROGRAM-DATE-TIME) derived from the PTS so both
// advance together.
func (s *stream) write(au *media.AccessUnit) error {
	if !s.started {
		s.started, s.basePTS, s.startNTP = true, au.PTS, time.Now()
	}
	pts := au.PTS - s.basePTS
	ntp := s.startNTP.Add(media.Duration(pts))
	nalus := media.WithParams(s.info, au, s.nalus)
	s.nalus = nalus[:0]
	var err error
	if s.info.Codec == media.CodecH265 {
		err = s.mux.WriteH265(s.track, ntp, pts, nalus)
	} else {
		err = s.mux.WriteH264(s.track, ntp, pts, nalus)
	}
	clear(nalus) // do not keep the unit alive through the scratch slice
	if err != nil {
		return MuxerError{Err: err}
	}
	s.lastPTS = au.PTS
	s.mirror(au.IDR, pts)
	return nil
}

func (s *stream) mirror(idr bool, pts int64) {
	if pts == 0 {
		s.segStart = 0
		return
	}
	if idr && media.Duration(pts-s.segStart) >= s.segMin {
		s.segments++
		s.segStart = pts
	}
}

func (s *stream) ready() bool { return s.segments >= s.need }

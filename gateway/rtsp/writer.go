package rtsp

import (
	"fmt"
	"log/slog"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/media"
)

// payloadType is the dynamic RTP payload type of the video format.
const payloadType = 96

// UnsupportedCodecError reports a hub carrying a codec RTSP cannot serve.
type UnsupportedCodecError struct{ Codec media.Codec }

func (e UnsupportedCodecError) Error() string {
	return fmt.Sprintf("rtsp: unsupported codec %q", e.Codec)
}

// rtpEncoder is what rtph264.Encoder and rtph265.Encoder have in common.
type rtpEncoder interface {
	Encode(nalus [][]byte) ([]*rtp.Packet, error)
}

// writer turns access units into RTP packets on the path's ServerStream. It
// belongs to the path's goroutine.
type writer struct {
	p   *path
	srv *gortsplib.Server
	log *slog.Logger // may be nil

	info     *media.StreamInfo // Info the stream was built or reloaded from
	streams                    // the ones it published to the path; zero without a stream
	medi     *description.Media
	forma    format.Format
	enc      rtpEncoder
	audio    *audioTrack // nil without sound
	tsOffset uint32      // random RTP timestamp start (RFC 3550)
	// clock maps PTS to the wall clock of RTCP sender reports and
	// RTP-Info, the same for both tracks: players then sync sound to
	// picture by timestamps, not by when each track left the pipeline.
	clock ptsClock
	nalus [][]byte // scratch: parameter sets + unit
}

// writeHook, when a test sets it, runs before each unit is written.
var writeHook func(*media.AccessUnit)

func (w *writer) write(au *media.AccessUnit) error {
	if writeHook != nil {
		writeHook(au)
	}
	if au.Audio != nil {
		if w.stream == nil || w.audio == nil || !media.SameAudio(au.Audio, w.info.Audio) {
			return nil // no stream yet, or not the track it describes
		}
		pkts, ts, err := w.audio.packets(au)
		if err != nil {
			return err
		}
		return w.deliver(w.audio.medi, pkts, unitClock{rtpTime: ts, ntp: w.clock.at(au.PTS)}, false)
	}
	ok, err := w.accept(au)
	if !ok {
		return err
	}
	w.nalus = media.WithParams(w.info, au, w.nalus)
	pkts, err := w.enc.Encode(w.nalus)
	if err != nil {
		return err
	}
	ts := w.tsOffset + uint32(au.PTS) // modular, like RTP timestamps
	for _, pkt := range pkts {
		pkt.Timestamp = ts
	}
	return w.deliver(w.medi, pkts, unitClock{rtpTime: ts, ntp: w.clock.at(au.PTS)}, au.IDR)
}

// deliver sends one unit's packets to the direct readers, then hands them
// to gortsplib for the others.
func (w *writer) deliver(medi *description.Media, pkts []*rtp.Packet, clock unitClock, idr bool) error {
	w.fan.send(w.p.directReaders(), medi, pkts, clock, idr, w.dropped, w.failed)
	for _, pkt := range pkts {
		if err := w.stream.WritePacketRTPWithNTP(medi, pkt, clock.ntp); err != nil {
			return err
		}
	}
	return nil
}

// dropped counts a unit a direct reader had no room for.
func (w *writer) dropped(r *directReader) {
	if r.dropped.Add(1) == 1 {
		w.logger().Warn("rtsp: reader too slow, dropping units until the next IDR", "path", w.p.name)
	}
}

// failed ends a direct reader whose connection failed; OnSessionClose
// then takes it out of the fan-out.
func (w *writer) failed(r *directReader, err error) {
	if !r.failed {
		r.failed = true
		w.logger().Debug("rtsp: reader write failed", "path", w.p.name, "err", err)
		r.ss.Close()
	}
}

// accept follows au.Info changes and reports whether au can be sent now.
func (w *writer) accept(au *media.AccessUnit) (bool, error) {
	info := au.Info
	switch {
	case info == nil || info == w.info:
		return w.stream != nil, nil
	case w.stream != nil && sameShape(w.info, info):
		// New parameter sets, same picture: readers keep playing.
		w.reload(info)
		return true, nil
	case !au.IDR:
		return false, nil // a new stream can only start at an IDR
	}
	if err := w.restart(info); err != nil {
		return false, err
	}
	return true, nil
}

// sameShape tells whether readers can keep playing: same picture, same
// sound.
func sameShape(a, b *media.StreamInfo) bool {
	return a.Codec == b.Codec && a.Width == b.Width && a.Height == b.Height && media.SameAudio(a.Audio, b.Audio)
}

func (w *writer) logger() *slog.Logger {
	if w.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.log
}

// restart replaces the stream (disconnecting its readers) with one built
// from info.
func (w *writer) restart(info *media.StreamInfo) error {
	w.closeStream()
	w.info = info // on error too: do not retry the same Info on every unit
	forma, enc, err := newFormat(info)
	if err != nil {
		return err
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	medias := []*description.Media{medi}
	var audio *audioTrack
	if info.Audio != nil {
		if audio, err = newAudioTrack(info.Audio); err != nil {
			w.logger().Warn("rtsp: serving without sound", "path", w.p.name, "err", err)
		} else {
			medias = append(medias, audio.medi)
		}
	}
	desc := &description.Session{Title: w.p.name, Medias: medias}
	st := &gortsplib.ServerStream{Server: w.srv, Desc: desc}
	if err := st.Initialize(); err != nil {
		return err
	}
	silent := &gortsplib.ServerStream{Server: w.srv, Desc: desc}
	if err := silent.Initialize(); err != nil {
		st.Close()
		return err
	}
	w.tsOffset = randomUint32()
	w.clock = ptsClock{}
	w.streams = streams{stream: st, silent: silent, fan: newFanout(silent, medi)}
	w.medi, w.forma, w.enc, w.audio = medi, forma, enc, audio
	w.p.setStreams(w.streams)
	return nil
}

func (w *writer) reload(info *media.StreamInfo) {
	switch f := w.forma.(type) {
	case *format.H264:
		f.SPS, f.PPS = info.SPS, info.PPS
	case *format.H265:
		f.VPS, f.SPS, f.PPS = info.VPS, info.SPS, info.PPS
	}
	w.stream.ReloadDesc()
	w.silent.ReloadDesc()
	w.info = info
}

// closeStream withdraws the stream from handlers and disconnects its readers.
func (w *writer) closeStream() {
	if w.stream == nil {
		return
	}
	w.p.setStreams(streams{})
	w.stream.Close()
	w.silent.Close()
	w.streams = streams{}
	w.medi, w.forma, w.enc, w.audio = nil, nil, nil, nil
}

func newFormat(info *media.StreamInfo) (format.Format, rtpEncoder, error) {
	switch info.Codec {
	case media.CodecH264:
		f := &format.H264{PayloadTyp: payloadType, PacketizationMode: 1, SPS: info.SPS, PPS: info.PPS}
		enc, err := f.CreateEncoder()
		if err != nil {
			return nil, nil, err
		}
		return f, enc, nil
	case media.CodecH265:
		f := &format.H265{PayloadTyp: payloadType, VPS: info.VPS, SPS: info.SPS, PPS: info.PPS}
		enc, err := f.CreateEncoder()
		if err != nil {
			return nil, nil, err
		}
		return f, enc, nil
	}
	return nil, nil, UnsupportedCodecError{Codec: info.Codec}
}

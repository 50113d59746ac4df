package main

import (
	"errors"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/transcode"
)

// frameWaiter decodes a new reader's H.264 access units until the first
// picture comes out: what a player needs before it can show anything.
// It uses visiongate's own decoder setup (software, slice threads only),
// so no frame-thread delay is counted against the stream.
type frameWaiter struct {
	dec   *transcode.Decoder
	pkt   *astiav.Packet
	frame *astiav.Frame
	info  media.StreamInfo // out-of-band SPS/PPS (SDP, init segment)
	nalus [][]byte         // scratch for WithParams
	buf   []byte
	Units int // access units fed so far
	W, H  int // size of the first picture
}

// newFrameWaiter opens a decoder; sps and pps (either may be nil) are put
// before an IDR that arrives without them, as a player would from the
// session description or the init segment.
func newFrameWaiter(sps, pps []byte) (*frameWaiter, error) {
	params := astiav.AllocCodecParameters()
	defer params.Free()
	params.SetCodecID(astiav.CodecIDH264)
	params.SetMediaType(astiav.MediaTypeVideo)
	dec, err := transcode.NewDecoder(params, "none")
	if err != nil {
		return nil, err
	}
	return &frameWaiter{dec: dec, pkt: astiav.AllocPacket(), frame: astiav.AllocFrame(),
		info: media.StreamInfo{Codec: media.CodecH264, SPS: sps, PPS: pps}}, nil
}

// feed decodes one access unit (NAL units without start codes) and says
// whether a picture came out. Units before the first IDR are rejected or
// give nothing, which is the point: they are what a reader waits through.
func (w *frameWaiter) feed(nalus [][]byte) (bool, error) {
	w.Units++
	au := media.AccessUnit{NALUs: nalus, IDR: hasIDR(nalus)}
	w.nalus = media.WithParams(&w.info, &au, w.nalus)
	w.buf = annexB(w.buf[:0], w.nalus)
	if len(w.buf) == 0 {
		return false, nil
	}
	if err := w.pkt.FromData(w.buf); err != nil {
		return false, err
	}
	defer w.pkt.Unref()
	if err := w.dec.SendPacket(w.pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
		return false, nil // undecodable without an earlier keyframe: keep waiting
	}
	if err := w.dec.ReceiveFrame(w.frame); err != nil {
		return false, nil // EAGAIN, or a broken picture: not one to show
	}
	w.W, w.H = w.frame.Width(), w.frame.Height()
	w.frame.Unref()
	return true, nil
}

func (w *frameWaiter) close() {
	w.dec.Close()
	w.pkt.Free()
	w.frame.Free()
}

func hasIDR(nalus [][]byte) bool {
	for _, n := range nalus {
		if media.NALUType(media.CodecH264, n) == media.H264NALIDR {
			return true
		}
	}
	return false
}

// annexB appends the NAL units to dst, each after a 4-byte start code.
func annexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}

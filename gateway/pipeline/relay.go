package pipeline

import (
	"context"
	"fmt"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/transcode"
)

// relay republishes the input's own H.264/H.265 without decoding. A
// bitstream filter turns MP4-style length-prefixed units into Annex B and
// inserts parameter sets before keyframes.
func (s *session) relay(ctx context.Context, out *output) error {
	bsf, err := s.openAnnexBFilter()
	if err != nil {
		return err
	}
	defer bsf.Free()
	out.seedParams(s.info)
	in, filtered := astiav.AllocPacket(), astiav.AllocPacket()
	defer in.Free()
	defer filtered.Free()
	for {
		if err := s.in.ReadPacket(ctx, in); err != nil {
			return s.endOfInput(err)
		}
		if s.in.IsAudio(in) {
			out.writeAudio(in)
			in.Unref()
			continue
		}
		s.stats.frameIn()
		err := bsf.SendPacket(in)
		in.Unref()
		if err != nil {
			continue // a broken packet costs that packet only
		}
		for bsf.ReceivePacket(filtered) == nil {
			out.relayPacket(filtered)
			filtered.Unref()
		}
	}
}

func (s *session) openAnnexBFilter() (*astiav.BitStreamFilterContext, error) {
	name := "h264_mp4toannexb"
	if s.info.CodecID == astiav.CodecIDHevc {
		name = "hevc_mp4toannexb"
	}
	bsf, err := astiav.AllocBitStreamFilterContext(astiav.FindBitStreamFilterByName(name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errPermanent, name, err)
	}
	if err := s.info.Params.Copy(bsf.InputCodecParameters()); err != nil {
		bsf.Free()
		return nil, err
	}
	bsf.SetInputTimeBase(s.info.TimeBase)
	if err := bsf.Initialize(); err != nil {
		bsf.Free()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return bsf, nil
}

// seedParams takes parameter sets from Annex B extradata (an RTSP
// camera's SDP), for inputs that never repeat them in band.
func (o *output) seedParams(v transcode.VideoInfo) {
	o.mu.Lock()
	defer o.mu.Unlock()
	extra := v.Params.ExtraData()
	if len(extra) < 4 || extra[0] != 0 || extra[1] != 0 {
		return // empty or MP4-style: the bitstream filter inserts them
	}
	_, ps := scanNALUs(o.inCodec, media.SplitAnnexB(extra, nil))
	if ps.sps != nil {
		o.describe(ps, o.inCodec, v.Width, v.Height)
	}
}

// relayPacket maps the packet's timestamps and publishes it. DTS drives
// the timeline; PTS keeps its distance from DTS (B-frames).
func (o *output) relayPacket(p *astiav.Packet) {
	o.mu.Lock()
	defer o.mu.Unlock()
	dts, pts := p.Dts(), p.Pts()
	if dts == astiav.NoPtsValue {
		dts = pts
	}
	outDTS := o.tl.Map(dts, dts != astiav.NoPtsValue)
	outPTS := outDTS
	if pts != astiav.NoPtsValue && dts != astiav.NoPtsValue && pts > dts {
		outPTS += o.tl.Rescale(pts - dts)
	}
	o.publish(p.Data(), o.inCodec, o.inW, o.inH, outPTS, outDTS, true)
}

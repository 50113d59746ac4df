package transcode

//#cgo pkg-config: libavutil
//#include <libavutil/frame.h>
//#include <libavutil/samplefmt.h>
import "C"

import (
	"errors"

	"github.com/asticode/go-astiav"
)

// SilentAAC returns one AAC-LC access unit of silence (1024 samples) at
// sampleRate with 1 or 2 channels, as libavcodec's aac encoder writes it:
// what a slate plays while a camera with sound is away.
func SilentAAC(sampleRate, channels int) ([]byte, error) {
	cc, err := openAudioCodec(EncodeAAC, sampleRate, channels)
	if err != nil {
		return nil, err
	}
	defer cc.Free()
	f, pkt := astiav.AllocFrame(), astiav.AllocPacket()
	defer f.Free()
	defer pkt.Free()
	f.SetNbSamples(cc.FrameSize())
	f.SetSampleFormat(cc.SampleFormat())
	f.SetChannelLayout(cc.ChannelLayout())
	f.SetSampleRate(sampleRate)
	if err := f.AllocBuffer(0); err != nil {
		return nil, err
	}
	cf := (*C.AVFrame)(f.UnsafePointer())
	C.av_samples_set_silence(cf.extended_data, 0, cf.nb_samples, C.int(channels), int32(cf.format))
	var last []byte
	for i := range 4 { // past the encoder's priming: a steady silent frame
		f.SetPts(int64(i * cc.FrameSize()))
		if err := cc.SendFrame(f); err != nil {
			return nil, err
		}
		for cc.ReceivePacket(pkt) == nil {
			last = append(last[:0], pkt.Data()...)
			pkt.Unref()
		}
	}
	if last == nil {
		return nil, errors.New("aac encoder gave no frame")
	}
	return last, nil
}

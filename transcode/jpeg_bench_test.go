package transcode

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// avJPEGEncoder is the former encoder (libavcodec mjpeg after swscale to
// yuvj420p), kept here only as the benchmark's and quality test's baseline.
type avJPEGEncoder struct {
	cc   *astiav.CodecContext
	conv *Converter
	pkt  *astiav.Packet
}

func newAVJPEGEncoder(w, h, q int) (*avJPEGEncoder, error) {
	codec := astiav.FindEncoder(astiav.CodecIDMjpeg)
	if codec == nil {
		return nil, errors.New("no MJPEG encoder")
	}
	e := &avJPEGEncoder{cc: astiav.AllocCodecContext(codec)}
	e.cc.SetWidth(w)
	e.cc.SetHeight(h)
	e.cc.SetPixelFormat(astiav.PixelFormatYuvj420P)
	e.cc.SetTimeBase(astiav.NewRational(1, 90000))
	opts := astiav.NewDictionary()
	defer opts.Free()
	_ = opts.Set("qmin", strconv.Itoa(q), 0)
	_ = opts.Set("qmax", strconv.Itoa(q), 0)
	if err := e.cc.Open(codec, opts); err != nil {
		e.cc.Free()
		return nil, fmt.Errorf("opening MJPEG encoder: %w", err)
	}
	e.conv = NewConverter(w, h, astiav.PixelFormatYuvj420P)
	e.pkt = astiav.AllocPacket()
	return e, nil
}

func (e *avJPEGEncoder) Encode(src *astiav.Frame) ([]byte, error) {
	f, err := e.conv.Convert(src)
	if err != nil {
		return nil, err
	}
	if err := e.cc.SendFrame(f); err != nil {
		return nil, err
	}
	if err := e.cc.ReceivePacket(e.pkt); err != nil {
		return nil, err
	}
	defer e.pkt.Unref()
	return append([]byte(nil), e.pkt.Data()...), nil
}

func (e *avJPEGEncoder) Close() {
	e.cc.Free()
	e.conv.Close()
	e.pkt.Free()
}

type jpegEncoder interface {
	Encode(*astiav.Frame) ([]byte, error)
	Close()
}

// benchEncoders are the encoders BenchmarkJPEG720p compares, by name:
// old (libav) and new (turbo) at the pipeline's qscale 5, at source size
// and scaled to 640 wide.
var benchEncoders = map[string]func() (jpegEncoder, error){
	"libav-q5":     func() (jpegEncoder, error) { return newAVJPEGEncoder(1280, 720, 5) },
	"turbo-q5":     func() (jpegEncoder, error) { return NewJPEGEncoder(1280, 720, 5) },
	"libav-q5-640": func() (jpegEncoder, error) { return newAVJPEGEncoder(640, 360, 5) },
	"turbo-q5-640": func() (jpegEncoder, error) { return NewJPEGEncoder(640, 360, 5) },
}

// BenchmarkJPEG720p encodes one real decoded 720p frame; cpu-ms/jpeg is
// the process's CPU time per picture, bytes/jpeg the picture's size.
func BenchmarkJPEG720p(b *testing.B) {
	src := decodedFrame(b, 1280, 720)
	for _, name := range slices.Sorted(maps.Keys(benchEncoders)) {
		b.Run(name, func(b *testing.B) { benchEncoder(b, benchEncoders[name], src) })
	}
}

func benchEncoder(b *testing.B, mk func() (jpegEncoder, error), src *astiav.Frame) {
	enc, err := mk()
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	var n int
	cpu0 := processCPU()
	for i := int64(0); b.Loop(); i++ {
		src.SetPts(i) // libav's mjpeg refuses a repeated pts
		data, err := enc.Encode(src)
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n), "bytes/jpeg")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/jpeg")
}

// processCPU is the process's user+system CPU time: other tenants of a
// shared machine stretch wall time, much less the CPU time spent.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

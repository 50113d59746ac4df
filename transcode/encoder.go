package transcode

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/asticode/go-astiav"
)

// EncoderOptions configures the H.264 encoder of one source.
type EncoderOptions struct {
	// Codec: "libx264", "auto" (hardware encoders first) or one of
	// "h264_nvenc", "h264_qsv", "h264_vaapi"; libx264 is the fallback.
	Codec  string
	Width  int
	Height int
	// PixelFormat is the format of the frames the caller has; the encoder
	// uses it when it can, so no conversion is needed.
	PixelFormat astiav.PixelFormat
	FPS         astiav.Rational
	TimeBase    astiav.Rational
	Preset      string
	Tune        string
	BitrateKbps int
	CRF         int
	GOP         int // frames between keyframes
}

// Encoder encodes frames to H.264 in Annex B with SPS/PPS on keyframes.
type Encoder struct {
	cc   *astiav.CodecContext
	pix  astiav.PixelFormat
	info CodecInfo
}

var hwEncoders = []string{"h264_nvenc", "h264_qsv", "h264_vaapi"}

// NewEncoder opens the requested encoder, falling back to libx264 with
// the reason in Info.
func NewEncoder(o EncoderOptions) (*Encoder, error) {
	var reasons []string
	for _, name := range encoderCandidates(o.Codec) {
		e, err := openEncoder(name, o)
		if err == nil {
			if len(reasons) > 0 {
				e.info.Reason = "fallback (" + strings.Join(reasons, "; ") + ")"
			}
			return e, nil
		}
		if name == "libx264" {
			return nil, err
		}
		reasons = append(reasons, name+": "+err.Error())
	}
	return nil, errors.New("transcode: no encoder") // unreachable: libx264 is last
}

func encoderCandidates(codec string) []string {
	switch codec {
	case "auto":
		return append(append([]string{}, hwEncoders...), "libx264")
	case "", "libx264":
		return []string{"libx264"}
	}
	return []string{codec, "libx264"}
}

func openEncoder(name string, o EncoderOptions) (*Encoder, error) {
	if name == "h264_vaapi" {
		// h264_vaapi only takes frames already on the device, and this
		// libav binding cannot create hardware frame pools.
		return nil, errors.New("needs device frame upload, not supported yet")
	}
	codec := astiav.FindEncoderByName(name)
	if codec == nil {
		return nil, errors.New("not in this libav build")
	}
	e := &Encoder{cc: astiav.AllocCodecContext(codec), info: CodecInfo{Name: name, Hardware: name != "libx264"}}
	if e.cc == nil {
		return nil, errors.New("allocating codec context failed")
	}
	e.pix = pickPixelFormat(codec.PixelFormats(), o.PixelFormat)
	e.configure(o)
	opts := encoderOptions(name, o)
	defer opts.Free()
	if err := e.cc.Open(codec, opts); err != nil {
		e.Close()
		return nil, fmt.Errorf("opening: %w", err)
	}
	return e, nil
}

func (e *Encoder) configure(o EncoderOptions) {
	cc := e.cc
	cc.SetWidth(o.Width)
	cc.SetHeight(o.Height)
	cc.SetPixelFormat(e.pix)
	cc.SetTimeBase(o.TimeBase)
	cc.SetFramerate(o.FPS)
	cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	if o.GOP > 0 {
		cc.SetGopSize(o.GOP)
	}
	if o.BitrateKbps > 0 {
		cc.SetBitRate(int64(o.BitrateKbps) * 1000)
	}
}

// encoderOptions maps the common settings onto each encoder's options.
func encoderOptions(name string, o EncoderOptions) *astiav.Dictionary {
	d := astiav.NewDictionary()
	set := func(k, v string) { _ = d.Set(k, v, 0) }
	set("bf", "0")
	set("forced-idr", "1")
	if o.GOP > 0 {
		set("keyint_min", strconv.Itoa(o.GOP))
	}
	if o.BitrateKbps > 0 {
		set("maxrate", strconv.Itoa(o.BitrateKbps*1000))
		set("bufsize", strconv.Itoa(o.BitrateKbps*1000))
	}
	switch name {
	case "libx264":
		set("preset", o.Preset)
		if o.Tune != "" && o.Tune != "none" {
			set("tune", o.Tune)
		}
		if o.BitrateKbps == 0 {
			set("crf", strconv.Itoa(o.CRF))
		}
		set("sc_threshold", "0") // keyframes exactly every GOP
	case "h264_nvenc":
		set("preset", "p4")
		set("tune", "ll")
		set("zerolatency", "1")
		if o.BitrateKbps == 0 {
			set("rc", "vbr")
			set("cq", strconv.Itoa(o.CRF))
		}
	case "h264_qsv":
		set("preset", "veryfast")
		set("look_ahead", "0")
		set("async_depth", "1")
	}
	return d
}

// pickPixelFormat keeps the caller's format when the encoder takes it.
func pickPixelFormat(supported []astiav.PixelFormat, have astiav.PixelFormat) astiav.PixelFormat {
	for _, pf := range supported {
		if pf == have {
			return pf
		}
	}
	if len(supported) == 0 {
		return astiav.PixelFormatYuv420P
	}
	return supported[0]
}

// PixelFormat is the format frames must have when sent.
func (e *Encoder) PixelFormat() astiav.PixelFormat { return e.pix }

// Info tells which encoder runs and why.
func (e *Encoder) Info() CodecInfo { return e.info }

// SendFrame feeds one frame (nil flushes).
func (e *Encoder) SendFrame(f *astiav.Frame) error { return e.cc.SendFrame(f) }

// ReceivePacket returns the next encoded packet or astiav.ErrEagain.
func (e *Encoder) ReceivePacket(p *astiav.Packet) error { return e.cc.ReceivePacket(p) }

// Close frees the encoder.
func (e *Encoder) Close() {
	if e.cc != nil {
		e.cc.Free()
		e.cc = nil
	}
}

package transcode

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/asticode/go-astiav"
)

// CodecInfo says which libav codec runs and, when it is not the one
// asked for, why.
type CodecInfo struct {
	Name     string
	Hardware bool
	Reason   string
}

// hwTypes are the device types "auto" tries, in order of preference.
var hwTypes = []string{"cuda", "vaapi", "qsv"}

// Decoder decodes one video track, in hardware when a device opens.
// Frames it returns are always in system memory.
type Decoder struct {
	cc      *astiav.CodecContext
	hwPix   astiav.PixelFormat
	hwFrame *astiav.Frame
	info    CodecInfo
}

// ErrNoDecoder means libav has no decoder for the input codec.
var ErrNoDecoder = errors.New("no decoder for codec")

// NewDecoder opens a decoder for params. hwaccel is "auto", "none" or a
// device type ("cuda", "vaapi", "qsv"); hardware failures fall back to
// software, with the reason in Info.
func NewDecoder(params *astiav.CodecParameters, hwaccel string) (*Decoder, error) {
	codec := astiav.FindDecoder(params.CodecID())
	if codec == nil {
		return nil, fmt.Errorf("%w %s", ErrNoDecoder, params.CodecID().Name())
	}
	if err := checkSize(params.Width(), params.Height()); err != nil {
		return nil, err
	}
	var reasons []string
	if hwaccel != "none" && hwaccel != "" {
		for _, t := range candidates(hwaccel) {
			d, err := openDecoder(codec, params, t)
			if err == nil {
				return d, nil
			}
			reasons = append(reasons, t+": "+err.Error())
		}
	}
	d, err := openDecoder(codec, params, "")
	if err != nil {
		return nil, err
	}
	if len(reasons) > 0 {
		d.info.Reason = "software fallback (" + strings.Join(reasons, "; ") + ")"
	} else {
		d.info.Reason = "hardware decoding disabled"
	}
	return d, nil
}

func candidates(hwaccel string) []string {
	if hwaccel == "auto" {
		return hwTypes
	}
	return []string{hwaccel}
}

// openDecoder opens codec in software (hwType "") or on a device type.
func openDecoder(codec *astiav.Codec, params *astiav.CodecParameters, hwType string) (*Decoder, error) {
	d := &Decoder{cc: astiav.AllocCodecContext(codec), info: CodecInfo{Name: codec.Name()}}
	if d.cc == nil {
		return nil, errors.New("allocating codec context failed")
	}
	if err := params.ToCodecContext(d.cc); err != nil {
		d.Close()
		return nil, fmt.Errorf("codec parameters: %w", err)
	}
	if hwType != "" {
		if err := d.attachDevice(codec, hwType); err != nil {
			d.Close()
			return nil, err
		}
	} else {
		// Slice threads only: frame threads would hold back one frame per
		// extra thread (about 67 ms at 30 fps on two cores) for little
		// throughput that live video needs.
		d.cc.SetThreadCount(0)
		d.cc.SetThreadType(astiav.ThreadTypeSlice)
	}
	if err := d.open(codec); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// open opens the codec with max_pixels set, so libav itself refuses to
// allocate pictures beyond MaxDimension squared.
func (d *Decoder) open(codec *astiav.Codec) error {
	opts := astiav.NewDictionary()
	defer opts.Free()
	if err := opts.Set("max_pixels", strconv.Itoa(MaxDimension*MaxDimension), 0); err != nil {
		return fmt.Errorf("decoder option max_pixels: %w", err)
	}
	if err := d.cc.Open(codec, opts); err != nil {
		return fmt.Errorf("opening decoder %s: %w", codec.Name(), err)
	}
	return nil
}

func (d *Decoder) attachDevice(codec *astiav.Codec, hwType string) error {
	t := astiav.FindHardwareDeviceTypeByName(hwType)
	if t == astiav.HardwareDeviceTypeNone {
		return errors.New("device type unknown to this libav build")
	}
	d.hwPix = astiav.PixelFormatNone
	for _, c := range codec.HardwareConfigs() {
		if c.MethodFlags().Has(astiav.CodecHardwareConfigMethodFlagHwDeviceCtx) && c.HardwareDeviceType() == t {
			d.hwPix = c.PixelFormat()
		}
	}
	if d.hwPix == astiav.PixelFormatNone {
		return fmt.Errorf("decoder %s has no %s support", codec.Name(), hwType)
	}
	dev, err := astiav.CreateHardwareDeviceContext(t, "", nil)
	if err != nil {
		return fmt.Errorf("no usable device: %w", err)
	}
	d.hwFrame = astiav.AllocFrame()
	d.cc.SetHardwareDeviceContext(dev) // the codec context owns and frees dev
	hwPix := d.hwPix
	d.cc.SetPixelFormatCallback(func(offered []astiav.PixelFormat) astiav.PixelFormat {
		for _, pf := range offered {
			if pf == hwPix {
				return pf
			}
		}
		// Not decodable on the device (profile, size): libav's last
		// offer is the software format.
		return offered[len(offered)-1]
	})
	d.info = CodecInfo{Name: codec.Name() + " (" + hwType + ")", Hardware: true}
	return nil
}

// Info tells which decoder runs.
func (d *Decoder) Info() CodecInfo { return d.info }

// SendPacket feeds one packet (nil flushes).
func (d *Decoder) SendPacket(pkt *astiav.Packet) error { return d.cc.SendPacket(pkt) }

// ReceiveFrame returns the next decoded frame in system memory, or
// astiav.ErrEagain when the decoder needs more input.
// A picture larger than MaxDimension (a camera that changed its size)
// is dropped with a *SizeError.
func (d *Decoder) ReceiveFrame(dst *astiav.Frame) error {
	if d.hwFrame == nil {
		if err := d.cc.ReceiveFrame(dst); err != nil {
			return err
		}
		if err := checkSize(dst.Width(), dst.Height()); err != nil {
			dst.Unref()
			return err
		}
		return nil
	}
	if err := d.cc.ReceiveFrame(d.hwFrame); err != nil {
		return err
	}
	defer d.hwFrame.Unref()
	if err := checkSize(d.hwFrame.Width(), d.hwFrame.Height()); err != nil {
		return err
	}
	if d.hwFrame.PixelFormat() != d.hwPix {
		d.info.Hardware = false
		d.info.Reason = "device refused this stream; decoding in software"
		dst.MoveRef(d.hwFrame)
		return nil
	}
	if err := d.hwFrame.TransferHardwareData(dst); err != nil {
		return fmt.Errorf("copying frame from device: %w", err)
	}
	dst.SetPts(d.hwFrame.Pts())
	return nil
}

// Close frees the decoder.
func (d *Decoder) Close() {
	if d.cc != nil {
		d.cc.Free()
		d.cc = nil
	}
	if d.hwFrame != nil {
		d.hwFrame.Free()
		d.hwFrame = nil
	}
}

package transcode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/visiongate/visiongate/internal/testmedia"
	"github.com/visiongate/visiongate/media"
)

func openFile(t *testing.T, path string, opts InputOptions) *Input {
	t.Helper()
	opts.URL, opts.Whitelist = path, "file"
	in, err := OpenInput(t.Context(), opts)
	if err != nil {
		t.Fatalf("OpenInput(%s): %v", path, err)
	}
	t.Cleanup(in.Close)
	return in
}

// decodeAll decodes every packet of in and returns the frame count and
// the last frame's size.
func decodeAll(t *testing.T, in *Input, dec *Decoder, each func(*astiav.Frame)) int {
	t.Helper()
	pkt, frame := astiav.AllocPacket(), astiav.AllocFrame()
	defer pkt.Free()
	defer frame.Free()
	n := 0
	drain := func() {
		for dec.ReceiveFrame(frame) == nil {
			n++
			if each != nil {
				each(frame)
			}
			frame.Unref()
		}
	}
	for {
		err := in.ReadPacket(t.Context(), pkt)
		if errors.Is(err, ErrEndOfStream) {
			break
		}
		if err != nil {
			t.Fatalf("ReadPacket: %v", err)
		}
		if err := dec.SendPacket(pkt); err != nil {
			t.Fatalf("SendPacket: %v", err)
		}
		pkt.Unref()
		drain()
	}
	if err := dec.SendPacket(nil); err != nil {
		t.Fatalf("flush: %v", err)
	}
	drain()
	return n
}

func TestDecodeAndEncodeClip(t *testing.T) {
	path := testmedia.Make(t, testmedia.Clip{Width: 320, Height: 240, FPS: 25, Seconds: 2, Audio: true, BFrames: 2})
	in := openFile(t, path, InputOptions{})
	info := in.Info()
	if info.Codec != "h264" || info.Width != 320 || info.Height != 240 || info.FPS != 25 {
		t.Fatalf("info = %+v, want h264 320x240 25 fps", info)
	}
	dec, err := NewDecoder(info.Params, "none")
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	enc, err := NewEncoder(EncoderOptions{Codec: "libx264", Width: 320, Height: 240,
		PixelFormat: astiav.PixelFormatYuv420P, FPS: astiav.NewRational(25, 1),
		TimeBase: astiav.NewRational(1, 90000), Preset: "veryfast", Tune: "zerolatency", CRF: 23, GOP: 25})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	var packets, keyframes, paramSets int
	var lastPTS int64 = -1
	var sent int64
	frames := decodeAll(t, in, dec, func(f *astiav.Frame) {
		f.SetPts(sent * 3600)
		sent++
		if err := enc.SendFrame(f); err != nil {
			t.Fatalf("SendFrame: %v", err)
		}
		for enc.ReceivePacket(pkt) == nil {
			if pkt.Pts() <= lastPTS {
				t.Errorf("pts %d after %d", pkt.Pts(), lastPTS)
			}
			lastPTS = pkt.Pts()
			packets++
			if pkt.Flags().Has(astiav.PacketFlagKey) {
				keyframes++
				for _, n := range media.SplitAnnexB(pkt.Data(), nil) {
					if n[0]&0x1f == 7 {
						paramSets++
					}
				}
			}
			pkt.Unref()
		}
	})
	if frames != 50 {
		t.Errorf("decoded %d frames, want 50", frames)
	}
	// zerolatency: one packet out per frame in, no delay.
	if packets != frames {
		t.Errorf("encoded %d packets for %d frames", packets, frames)
	}
	if keyframes != 2 || paramSets != keyframes {
		t.Errorf("keyframes %d with SPS %d, want 2 each (GOP 1 s, SPS repeated)", keyframes, paramSets)
	}
}

func TestDecoderFallsBackToSoftware(t *testing.T) {
	path := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 10, Seconds: 0.5})
	in := openFile(t, path, InputOptions{})
	for _, hw := range []string{"auto", "cuda", "vaapi", "qsv", "none"} {
		t.Run(hw, func(t *testing.T) {
			// Whether a device is usable is found apart from the decoder:
			// a decoder claiming hardware where none opens is a failure.
			if usable := usableDecodeDevices(); hw != "none" && len(usable) > 0 &&
				(hw == "auto" || slices.Contains(usable, hw)) {
				t.Skipf("this machine decodes %s in hardware (%v): fallback not reachable; "+
					"TestHardwareCodecsWhereAvailable covers it", hw, usable)
			}
			dec, err := NewDecoder(in.Info().Params, hw)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			info := dec.Info()
			if info.Hardware || info.Name != "h264" || info.Reason == "" {
				t.Errorf("info = %+v, want software h264 with a reason (no %s device opens here)", info, hw)
			}
			if hw != "none" && !strings.Contains(info.Reason, "software fallback") {
				t.Errorf("reason %q does not explain the fallback", info.Reason)
			}
		})
	}
}

func TestEncoderFallsBackToX264(t *testing.T) {
	for _, codec := range []string{"auto", "h264_nvenc", "h264_vaapi", "h264_qsv"} {
		t.Run(codec, func(t *testing.T) {
			// As for the decoder, usability is probed apart from NewEncoder.
			if usable := usableEncoders(); len(usable) > 0 && (codec == "auto" || slices.Contains(usable, codec)) {
				t.Skipf("hardware encoder %v opens here: fallback not reachable; "+
					"TestHardwareCodecsWhereAvailable covers it", usable)
			}
			enc, err := NewEncoder(EncoderOptions{Codec: codec, Width: 320, Height: 240,
				PixelFormat: astiav.PixelFormatYuv420P, FPS: astiav.NewRational(25, 1),
				TimeBase: astiav.NewRational(1, 90000), Preset: "veryfast", CRF: 23, GOP: 25})
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			if info := enc.Info(); info.Hardware || info.Name != "libx264" || !strings.Contains(info.Reason, "fallback") {
				t.Errorf("info = %+v, want libx264 (software) with a fallback reason", info)
			}
		})
	}
}

// usableDecodeDevices lists the device types (of hwTypes) this machine can
// decode H.264 on, found without Decoder: libav knows the type, its h264
// decoder can use it, and a device opens.
func usableDecodeDevices() []string {
	var out []string
	for _, hw := range hwTypes {
		if probeDecodeDevice(hw) == nil {
			out = append(out, hw)
		}
	}
	return out
}

func probeDecodeDevice(hw string) error {
	typ := astiav.FindHardwareDeviceTypeByName(hw)
	if typ == astiav.HardwareDeviceTypeNone {
		return errors.New("device type unknown to this libav build")
	}
	codec := astiav.FindDecoder(astiav.CodecIDH264)
	if !slices.ContainsFunc(codec.HardwareConfigs(), func(c astiav.CodecHardwareConfig) bool {
		return c.HardwareDeviceType() == typ && c.MethodFlags().Has(astiav.CodecHardwareConfigMethodFlagHwDeviceCtx)
	}) {
		return errors.New("libav's h264 decoder cannot use it")
	}
	dev, err := astiav.CreateHardwareDeviceContext(typ, "", nil)
	if err != nil {
		return fmt.Errorf("no device opens: %w", err)
	}
	cc := astiav.AllocCodecContext(codec)
	cc.SetHardwareDeviceContext(dev)
	cc.Free() // releases dev
	return nil
}

// usableEncoders lists the hardware H.264 encoders that open here, found by
// opening them bare, without NewEncoder. h264_vaapi is left out: Encoder
// refuses it (no device frame upload yet), whatever the machine has.
func usableEncoders() []string {
	var out []string
	for _, name := range hwEncoders {
		if name != "h264_vaapi" && probeEncoder(name) == nil {
			out = append(out, name)
		}
	}
	return out
}

func probeEncoder(name string) error {
	codec := astiav.FindEncoderByName(name)
	if codec == nil {
		return errors.New("not in this libav build")
	}
	cc := astiav.AllocCodecContext(codec)
	defer cc.Free()
	pf := astiav.PixelFormatYuv420P
	if pfs := codec.PixelFormats(); len(pfs) > 0 && !slices.Contains(pfs, pf) {
		pf = pfs[0]
	}
	cc.SetWidth(640)
	cc.SetHeight(360)
	cc.SetPixelFormat(pf)
	cc.SetTimeBase(astiav.NewRational(1, 25))
	cc.SetFramerate(astiav.NewRational(25, 1))
	if err := cc.Open(codec, nil); err != nil {
		return fmt.Errorf("does not open: %w", err)
	}
	return nil
}

// TestHardwareCodecsWhereAvailable: on a machine with a usable device (see
// the probes above) the hardware decoder and encoder are the ones that run
// (Hardware: true) and they decode frames and encode packets. Where no
// device is usable there is nothing to check, and the log says so plainly:
// the one test allowed not to run, as no machine can fake a GPU.
func TestHardwareCodecsWhereAvailable(t *testing.T) {
	const w, h, fps = 640, 360, 25
	path := testmedia.Make(t, testmedia.Clip{Width: w, Height: h, FPS: fps, Seconds: 1})
	var tested, untested []string
	for _, hw := range hwTypes {
		if err := probeDecodeDevice(hw); err != nil {
			untested = append(untested, fmt.Sprintf("%s decode: %v", hw, err))
			continue
		}
		tested = append(tested, hw+" decode")
		t.Run("decode/"+hw, func(t *testing.T) {
			in := openFile(t, path, InputOptions{})
			dec, err := NewDecoder(in.Info().Params, hw)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			if info := dec.Info(); !info.Hardware {
				t.Fatalf("a %s device opens here, but the decoder runs %+v", hw, info)
			}
			frames := decodeAll(t, in, dec, func(f *astiav.Frame) {
				if f.Width() != w || f.Height() != h {
					t.Errorf("frame %dx%d, want %dx%d", f.Width(), f.Height(), w, h)
				}
			})
			if frames != fps {
				t.Errorf("decoded %d frames on %s, want %d", frames, hw, fps)
			}
			if info := dec.Info(); !info.Hardware {
				t.Errorf("decoder left the device while decoding: %+v", info)
			}
		})
	}
	for _, name := range hwEncoders {
		if name == "h264_vaapi" {
			untested = append(untested, "h264_vaapi encode: Encoder does not support it yet")
			continue
		}
		if err := probeEncoder(name); err != nil {
			untested = append(untested, fmt.Sprintf("%s encode: %v", name, err))
			continue
		}
		tested = append(tested, name+" encode")
		t.Run("encode/"+name, func(t *testing.T) { testHardwareEncoder(t, path, name, w, h, fps) })
	}
	if len(tested) == 0 {
		t.Logf("HARDWARE CODECS NOT TESTED: no usable device on this machine (%s)", strings.Join(untested, "; "))
		return
	}
	t.Logf("hardware codecs tested: %s; not available: %s", strings.Join(tested, ", "), strings.Join(untested, "; "))
}

// testHardwareEncoder encodes the clip, decoded in software, with name and
// wants one packet per frame, keyframes among them.
func testHardwareEncoder(t *testing.T, path, name string, w, h, fps int) {
	enc, err := NewEncoder(EncoderOptions{Codec: name, Width: w, Height: h,
		PixelFormat: astiav.PixelFormatYuv420P, FPS: astiav.NewRational(fps, 1),
		TimeBase: astiav.NewRational(1, 90000), Preset: "veryfast", CRF: 23, GOP: fps})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if info := enc.Info(); !info.Hardware || info.Name != name {
		t.Fatalf("%s opens here, but the encoder runs %+v", name, info)
	}
	in := openFile(t, path, InputOptions{})
	dec, err := NewDecoder(in.Info().Params, "none")
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	conv := NewConverter(w, h, enc.PixelFormat())
	defer conv.Close()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	packets, keyframes := 0, 0
	receive := func() {
		for enc.ReceivePacket(pkt) == nil {
			packets++
			if pkt.Flags().Has(astiav.PacketFlagKey) {
				keyframes++
			}
			pkt.Unref()
		}
	}
	var sent int64
	frames := decodeAll(t, in, dec, func(f *astiav.Frame) {
		out, err := conv.Convert(f)
		if err != nil {
			t.Fatal(err)
		}
		out.SetPts(sent * 3600)
		sent++
		if err := enc.SendFrame(out); err != nil {
			t.Fatalf("SendFrame: %v", err)
		}
		receive()
	})
	if err := enc.SendFrame(nil); err != nil {
		t.Fatalf("flush: %v", err)
	}
	receive()
	if frames != fps || packets != frames || keyframes == 0 {
		t.Errorf("%s: %d frames in, %d packets out (%d keyframes); want %d, one packet each, keyframes",
			name, frames, packets, keyframes, fps)
	}
}

func TestLoopingFileKeepsTimestampsIncreasing(t *testing.T) {
	path := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 50, Seconds: 0.4})
	in := openFile(t, path, InputOptions{Loop: true})
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	last := int64(-1)
	for i := 0; i < 60; i++ { // 20 frames per pass: three passes
		if err := in.ReadPacket(t.Context(), pkt); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if pkt.Dts() <= last {
			t.Fatalf("packet %d: dts %d after %d", i, pkt.Dts(), last)
		}
		last = pkt.Dts()
		pkt.Unref()
	}
}

func TestLavfiInputIsPacedAtRealTime(t *testing.T) {
	in, err := OpenInput(t.Context(), InputOptions{URL: "testsrc2=size=160x120:rate=25", Format: "lavfi",
		Whitelist: "none", RealTime: true})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	start := time.Now()
	for i := 0; i < 26; i++ {
		if err := in.ReadPacket(t.Context(), pkt); err != nil {
			t.Fatal(err)
		}
		pkt.Unref()
	}
	// 25 frame intervals at 25 fps take one second; without pacing lavfi
	// produces them in a few milliseconds.
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("26 frames in %v: not paced", el)
	}
}

// silentServer accepts TCP connections and never says a word, like a
// camera whose firmware hung; closed with the test.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().String()
}

// A server that accepts and never answers must not hang the opener.
func TestOpenTimesOutOnSilentServer(t *testing.T) {
	start := time.Now()
	_, err := OpenInput(t.Context(), InputOptions{URL: "rtsp://" + silentServer(t) + "/cam",
		Whitelist: "rtsp,rtp,udp,tcp", Transport: "tcp", ConnectTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("timeout took %v", el)
	}
}

func TestOpenIsCancellable(t *testing.T) {
	addr := silentServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := OpenInput(ctx, InputOptions{URL: "rtsp://" + addr + "/cam",
		Whitelist: "rtsp,rtp,udp,tcp", Transport: "tcp", ConnectTimeout: time.Minute})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
}

func TestWhitelistRequired(t *testing.T) {
	if _, err := OpenInput(t.Context(), InputOptions{URL: "/etc/hostname"}); !errors.Is(err, ErrNoWhitelist) {
		t.Fatalf("err = %v, want ErrNoWhitelist", err)
	}
}

// A protocol missing from the whitelist is refused by libav before the
// input is touched: the error is libav's whitelist refusal (EINVAL, with its
// "not on whitelist" log line) and the file is never opened.
func TestWhitelistBlocksOtherProtocols(t *testing.T) {
	path := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 10, Seconds: 0.2})
	// inotify records every open and read of the file, by libav included.
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, path, syscall.IN_OPEN|syscall.IN_ACCESS); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged []string
	astiav.SetLogLevel(astiav.LogLevelError)
	astiav.SetLogCallback(func(_ astiav.Classer, _ astiav.LogLevel, _, msg string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, strings.TrimSpace(msg))
	})
	defer func() {
		astiav.ResetLogCallback()
		astiav.SetLogLevel(astiav.LogLevelFatal) // as TestMain left it
	}()

	in, err := OpenInput(t.Context(), InputOptions{URL: "file:" + path, Whitelist: "http,tcp"})
	if err == nil {
		in.Close()
		t.Error("a file opened with an http-only whitelist")
	} else if einval := astiav.Error(-int(syscall.EINVAL)); !errors.Is(err, einval) || !strings.HasPrefix(err.Error(), "opening input:") {
		t.Errorf("err = %v, want libav's whitelist refusal (%v) from opening the input", err, einval)
	}
	mu.Lock()
	refused := slices.ContainsFunc(logged, func(m string) bool {
		return strings.Contains(m, "Protocol 'file' not on whitelist 'http,tcp'")
	})
	mu.Unlock()
	if !refused {
		t.Errorf("libav did not log the whitelist refusal; it logged %q", logged)
	}
	buf := make([]byte, 4096)
	if n, err := syscall.Read(fd, buf); n > 0 {
		t.Errorf("the file was opened or read (%d bytes of inotify events)", n)
	} else if !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("reading inotify events: %v", err)
	}
}

package transcode

import (
	"context"
	"errors"
	"github.com/visiongate/visiongate/gateway/media"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/internal/testmedia"
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
			dec, err := NewDecoder(in.Info().Params, hw)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			info := dec.Info()
			if info.Hardware {
				t.Skipf("this machine decodes %s in hardware (%s): fallback not reachable", hw, info.Name)
			}
			if info.Name != "h264" || info.Reason == "" {
				t.Errorf("info = %+v, want software h264 with a reason", info)
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
			enc, err := NewEncoder(EncoderOptions{Codec: codec, Width: 320, Height: 240,
				PixelFormat: astiav.PixelFormatYuv420P, FPS: astiav.NewRational(25, 1),
				TimeBase: astiav.NewRational(1, 90000), Preset: "veryfast", CRF: 23, GOP: 25})
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			if enc.Info().Hardware {
				t.Skipf("hardware encoder %s opened here", enc.Info().Name)
			}
			if enc.Info().Name != "libx264" || !strings.Contains(enc.Info().Reason, "fallback") {
				t.Errorf("info = %+v, want libx264 with a fallback reason", enc.Info())
			}
		})
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

func TestWhitelistBlocksOtherProtocols(t *testing.T) {
	path := testmedia.Make(t, testmedia.Clip{Width: 160, Height: 120, FPS: 10, Seconds: 0.2})
	_, err := OpenInput(t.Context(), InputOptions{URL: "file:" + path, Whitelist: "http,tcp"})
	if err == nil {
		t.Fatal("a file opened with an http-only whitelist")
	}
}

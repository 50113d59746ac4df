package transcode

import (
	"errors"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/visiongate/visiongate/internal/testmedia"
)

// Sound in codecs HLS cannot carry becomes AAC at 48 kHz: one access unit
// per 1024 samples, timestamps increasing by that much, and a
// configuration that says AAC-LC 48 kHz.
func TestAACEncoderTranscodesCameraSound(t *testing.T) {
	for _, c := range []struct{ encoder, container string }{
		{"pcm_mulaw", "mkv"}, {"pcm_alaw", "mkv"}, {"ac3", "mkv"}, {"libmp3lame", "mkv"},
	} {
		t.Run(c.encoder, func(t *testing.T) {
			clip := testmedia.Make(t, testmedia.Clip{Width: 64, Height: 48, FPS: 10, Seconds: 2,
				Container: c.container, Audio: true, AudioCodec: c.encoder})
			in, err := OpenInput(t.Context(), InputOptions{URL: clip, Whitelist: "file", Audio: true})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			a, ok := in.Audio()
			if !ok {
				t.Fatal("no audio track selected")
			}
			enc, err := NewAACEncoder(a)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			var conf mpeg4audio.AudioSpecificConfig
			if err := conf.Unmarshal(enc.Config()); err != nil || conf.Type != mpeg4audio.ObjectTypeAACLC ||
				conf.SampleRate != AACRate || conf.ChannelConfig != 1 {
				t.Errorf("config %x = %+v (%v), want AAC-LC, 48 kHz, mono", enc.Config(), conf, err)
			}
			var pts []int64
			pkt := astiav.AllocPacket()
			defer pkt.Free()
			for {
				err := in.ReadPacket(t.Context(), pkt)
				if errors.Is(err, ErrEndOfStream) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if in.IsAudio(pkt) {
					if err := enc.Encode(pkt, func(au []byte, p int64) { pts = append(pts, p) }); err != nil {
						t.Fatal(err)
					}
				}
				pkt.Unref()
			}
			// 2 s at 48 kHz is 93.75 frames; the encoder holds a few back.
			if len(pts) < 85 || len(pts) > 94 {
				t.Fatalf("%d AAC units from 2 s", len(pts))
			}
			for i := 1; i < len(pts); i++ {
				if pts[i]-pts[i-1] != 1024 {
					t.Fatalf("unit %d: pts %d after %d, want +1024", i, pts[i], pts[i-1])
				}
			}
		})
	}
}

// The slate's AAC silence is a frame any AAC-LC decoder plays as silence.
func TestSilentAACDecodesToSilence(t *testing.T) {
	for _, c := range []struct{ rate, channels int }{{48000, 1}, {44100, 2}, {16000, 1}} {
		au, err := SilentAAC(c.rate, c.channels)
		if err != nil {
			t.Fatal(err)
		}
		conf, _ := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: c.rate,
			ChannelConfig: uint8(c.channels)}.Marshal()
		codec := astiav.FindDecoder(astiav.CodecIDAac)
		cc := astiav.AllocCodecContext(codec)
		if err := cc.SetExtraData(conf); err != nil {
			t.Fatal(err)
		}
		if err := cc.Open(codec, nil); err != nil {
			t.Fatal(err)
		}
		pkt, frame := astiav.AllocPacket(), astiav.AllocFrame()
		if err := pkt.FromData(au); err != nil {
			t.Fatal(err)
		}
		if err := cc.SendPacket(pkt); err != nil {
			t.Fatalf("%d Hz: decoding the silent frame: %v", c.rate, err)
		}
		if err := cc.ReceiveFrame(frame); err != nil {
			t.Fatalf("%d Hz: no samples: %v", c.rate, err)
		}
		b, _ := frame.Data().Bytes(1)
		loud := 0
		for _, v := range b {
			if v != 0 {
				loud++
			}
		}
		if frame.NbSamples() != 1024 || loud != 0 {
			t.Errorf("%d Hz x%d: %d samples, %d non-zero bytes", c.rate, c.channels, frame.NbSamples(), loud)
		}
		frame.Free()
		pkt.Free()
		cc.Free()
	}
}

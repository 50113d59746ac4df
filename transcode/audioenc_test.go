package transcode

import (
	"errors"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/visiongate/visiongate/internal/testmedia"
)

// Sound in codecs HLS cannot carry becomes AAC or Opus at 48 kHz: one
// frame per 1024 (AAC) or 960 (Opus, 20 ms) samples, timestamps
// increasing by that much; AAC's configuration says AAC-LC 48 kHz.
func TestAudioEncoderTranscodesCameraSound(t *testing.T) {
	for _, c := range []struct {
		source, encoder string
		step            int64
	}{
		{"pcm_mulaw", EncodeAAC, 1024}, {"pcm_alaw", EncodeAAC, 1024}, {"ac3", EncodeAAC, 1024},
		{"libmp3lame", EncodeAAC, 1024}, {"pcm_mulaw", EncodeOpus, 960}, {"aac", EncodeOpus, 960},
	} {
		t.Run(c.source+"_to_"+c.encoder, func(t *testing.T) {
			a, in := openAudioClip(t, c.source)
			enc, err := NewAudioEncoder(a, c.encoder)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			if c.encoder == EncodeAAC {
				checkAACConfig(t, enc.Config())
			}
			pts := encodeAll(t, in, enc)
			want := int64(2*AudioRate) / c.step // 2 s; the encoder holds a few back
			if n := int64(len(pts)); n < want-8 || n > want+1 {
				t.Fatalf("%d frames from 2 s, want about %d", n, want)
			}
			// Timestamps come from the source's: a container that keeps
			// them in milliseconds (Matroska) moves a frame by up to 1 ms
			// (48 samples), never the whole.
			for i := 1; i < len(pts); i++ {
				if d := pts[i] - pts[i-1]; d < c.step-48 || d > c.step+48 {
					t.Fatalf("frame %d: pts %d after %d, want +%d", i, pts[i], pts[i-1], c.step)
				}
			}
			if span, want := pts[len(pts)-1]-pts[0], int64(len(pts)-1)*c.step; span < want-48 || span > want+48 {
				t.Errorf("%d frames span %d samples, want %d", len(pts), span, want)
			}
		})
	}
}

// openAudioClip makes a 2 s clip with a tone in encoder's codec and opens
// it with its audio track.
func openAudioClip(t *testing.T, encoder string) (AudioInfo, *Input) {
	t.Helper()
	clip := testmedia.Make(t, testmedia.Clip{Width: 64, Height: 48, FPS: 10, Seconds: 2,
		Container: "mkv", Audio: true, AudioCodec: encoder})
	in, err := OpenInput(t.Context(), InputOptions{URL: clip, Whitelist: "file", Audio: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	a, ok := in.Audio()
	if !ok {
		t.Fatal("no audio track selected")
	}
	return a, in
}

func checkAACConfig(t *testing.T, b []byte) {
	t.Helper()
	var conf mpeg4audio.AudioSpecificConfig
	if err := conf.Unmarshal(b); err != nil || conf.Type != mpeg4audio.ObjectTypeAACLC ||
		conf.SampleRate != AudioRate || conf.ChannelConfig != 1 {
		t.Errorf("config %x = %+v (%v), want AAC-LC, 48 kHz, mono", b, conf, err)
	}
}

// encodeAll feeds the input's audio to enc and returns the frames' PTS.
func encodeAll(t *testing.T, in *Input, enc *AudioEncoder) []int64 {
	t.Helper()
	var pts []int64
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	for {
		err := in.ReadPacket(t.Context(), pkt)
		if errors.Is(err, ErrEndOfStream) {
			return pts
		}
		if err != nil {
			t.Fatal(err)
		}
		if in.IsAudio(pkt) {
			if err := enc.Encode(pkt, func(_ []byte, p int64) { pts = append(pts, p) }); err != nil {
				t.Fatal(err)
			}
		}
		pkt.Unref()
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

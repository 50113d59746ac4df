package testcam

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
)

// Beeps: with Options.Beep the picture flashes white for the first frame
// of every second and the sound beeps (1 kHz) for its first BeepLength,
// both starting at the same instant: a player in sync hears the beep as
// it sees the flash.
const BeepLength = 0.1 // seconds

// audioSource sends the camera's sound in step with its frames.
type audioSource struct {
	medi  *description.Media
	forma format.Format
	rate  int
	// next returns the packets of the tick's sound, timestamps relative
	// to the stream's start at the audio clock.
	next func(tick int) ([]*rtp.Packet, error)
}

func newAudioSource(t testing.TB, o Options) *audioSource {
	t.Helper()
	switch o.Audio {
	case "pcmu":
		return newPCMU(o)
	case "aac":
		return newAAC(t, o)
	}
	t.Fatalf("test camera: unknown audio %q", o.Audio)
	return nil
}

// newPCMU sends 8 kHz µ-law made here, one packet per frame.
func newPCMU(o Options) *audioSource {
	f := &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}
	enc, _ := f.CreateEncoder()
	per := 8000 / o.FPS
	a := &audioSource{medi: &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f}},
		forma: f, rate: 8000}
	a.next = func(tick int) ([]*rtp.Packet, error) {
		samples := make([]byte, per)
		for i := range samples {
			n := tick*per + i
			samples[i] = muLaw(beepSample(o.Beep, n, 8000))
		}
		pkts, err := enc.Encode(samples)
		for _, p := range pkts {
			p.Timestamp += uint32(tick * per)
		}
		return pkts, err
	}
	return a
}

// beepSample is sample n of the camera's sound: a tone, beeping when asked.
func beepSample(beep bool, n, rate int) float64 {
	t := float64(n) / float64(rate)
	if beep && math.Mod(t, 1) >= BeepLength {
		return 0
	}
	return 0.5 * math.Sin(2*math.Pi*1000*t)
}

// muLaw encodes one linear sample in [-1, 1] (ITU-T G.711).
func muLaw(x float64) byte {
	const bias, clip = 0x84, 32635
	s := int(x * 32767)
	sign := 0
	if s < 0 {
		s, sign = -s, 0x80
	}
	s = min(s, clip) + bias
	exp := 7
	for mask := 0x4000; s&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (s >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// MuLawDecode is µ-law's inverse, for readers checking the sound.
func MuLawDecode(b byte) float64 {
	b = ^b
	exp, mant := int(b>>4)&7, int(b&0x0f)
	s := ((mant<<3)+0x84)<<exp - 0x84
	if b&0x80 != 0 {
		s = -s
	}
	return float64(s) / 32767
}

// newAAC sends AAC made by ffmpeg (48 kHz mono), the frames due by each
// tick in one packet.
func newAAC(t testing.TB, o Options) *audioSource {
	t.Helper()
	aus := encodeAAC(t)
	conf := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 1}
	f := &format.MPEG4Audio{PayloadTyp: 97, Config: conf, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	enc, err := f.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	a := &audioSource{medi: &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f}},
		forma: f, rate: 48000}
	sent := 0
	a.next = func(tick int) ([]*rtp.Packet, error) {
		due := (tick + 1) * 48000 / o.FPS / 1024
		var batch [][]byte
		first := sent
		for ; sent < due; sent++ {
			batch = append(batch, aus[sent%len(aus)])
		}
		if len(batch) == 0 {
			return nil, nil
		}
		pkts, err := enc.Encode(batch)
		for _, p := range pkts {
			p.Timestamp += uint32(first * 1024)
		}
		return pkts, err
	}
	return a
}

// encodeAAC makes two seconds of AAC tone with ffmpeg.
func encodeAAC(t testing.TB) [][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tone.aac")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "sine=frequency=1000:sample_rate=48000", "-t", "2", "-ac", "1", "-c:a", "aac", "-f", "adts", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(data); err != nil {
		t.Fatal(fmt.Errorf("test camera AAC: %w", err))
	}
	aus := make([][]byte, len(pkts))
	for i, p := range pkts {
		aus[i] = p.AU
	}
	return aus
}

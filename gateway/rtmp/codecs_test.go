package rtmp

import (
	"bytes"
	"testing"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/flac"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/visiongate/visiongate/media"
)

// TestAudioCodecs: each audio codec gortmplib reads becomes a track on
// its own sample clock; FLAC is left out and the video goes on alone.
func TestAudioCodecs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		codec  codecs.Codec
		want   *media.Track
		packet []byte
	}{
		{"opus", &codecs.Opus{IDHeader: &opus.IDHeader{Version: 1, ChannelCount: 2, InputSampleRate: 48000}},
			&media.Track{Codec: media.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 2}, testOpus},
		{"pcmu", &codecs.G711{MULaw: true, ChannelCount: 1},
			&media.Track{Codec: media.CodecPCMU, ClockRate: 8000, SampleRate: 8000, Channels: 1}, testG711},
		{"pcma", &codecs.G711{ChannelCount: 2},
			&media.Track{Codec: media.CodecPCMA, ClockRate: 8000, SampleRate: 8000, Channels: 2}, testG711},
		{"mp3", &codecs.MPEG1Audio{},
			&media.Track{Codec: media.CodecMP3, ClockRate: 44100, SampleRate: 44100, Channels: 1}, testMP3},
		{"ac3", &codecs.AC3{SampleRate: 48000, ChannelCount: 1},
			&media.Track{Codec: media.CodecAC3, ClockRate: 48000, SampleRate: 48000, Channels: 1}, testAC3},
		{"flac", &codecs.FLAC{StreamInfo: &flac.StreamInfo{SampleRate: 48000, ChannelCount: 2, BitDepth: 16, MinBlockSize: 4096, MaxBlockSize: 4096}},
			nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := startServer(t, newBroker(nil, open), nil)
			sk := startSink(t, env.broker, "cam1")
			if _, err := publishH264(t, env, "cam1", testH264Track(), &gortmplib.Track{Codec: tc.codec}); err != nil {
				t.Fatal(err)
			}
			sk.waitFor(t, "60 video packets", func(s *sink) bool { return len(s.video) >= 60 })
			sk.mu.Lock()
			defer sk.mu.Unlock()
			checkAudio(t, sk, tc.want, tc.packet)
		})
	}
}

func checkAudio(t *testing.T, sk *sink, want *media.Track, packet []byte) {
	t.Helper()
	got := sk.pubs[0].Info().Audio
	if want == nil {
		if got != nil || len(sk.audio) > 0 {
			t.Fatalf("audio track %+v, %d packets; want none", got, len(sk.audio))
		}
		return
	}
	if got == nil {
		t.Fatal("no audio track")
	}
	if got.Codec != want.Codec || got.ClockRate != want.ClockRate || got.SampleRate != want.SampleRate ||
		got.Channels != want.Channels {
		t.Fatalf("audio track %+v, want %+v", *got, *want)
	}
	if len(sk.audio) < 2 || !bytes.Equal(sk.audio[1].Data, packet) || sk.audio[1].PTS != frameTS(1, int64(want.ClockRate)) {
		t.Fatalf("%d audio packets, the second %+v", len(sk.audio), sk.audio[min(1, len(sk.audio)-1)])
	}
}

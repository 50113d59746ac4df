package transcode

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/visiongate/visiongate/media"
)

func TestPacketInputDescribesTracks(t *testing.T) {
	aac := &media.Track{Codec: media.CodecAAC, ClockRate: 48000, SampleRate: 48000, Channels: 2,
		Config: []byte{0x11, 0x90}}
	for _, tc := range []struct {
		name      string
		video     media.Track
		audio     *media.Track
		want      error
		wantAudio bool
	}{
		{"h264 with aac", media.Track{Codec: media.CodecH264, ClockRate: 90000, Width: 640, Height: 360}, aac, nil, true},
		{"vp8 alone", media.Track{Codec: media.CodecVP8, ClockRate: 90000}, nil, nil, false},
		{"audio as video", media.Track{Codec: media.CodecAAC, ClockRate: 90000}, nil, ErrCodec, false},
		{"unknown codec", media.Track{Codec: "theora", ClockRate: 90000}, nil, ErrCodec, false},
		{"no clock", media.Track{Codec: media.CodecH264}, nil, ErrCodec, false},
		{"too large", media.Track{Codec: media.CodecH264, ClockRate: 90000, Width: 16384, Height: 16384}, nil,
			ErrTooLarge, false},
		{"audio without rate plays silent", media.Track{Codec: media.CodecH264, ClockRate: 90000},
			&media.Track{Codec: media.CodecOpus, ClockRate: 48000}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := NewPacketInput(tc.video, tc.audio, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewPacketInput = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			defer in.Close()
			a, ok := in.Audio()
			if ok != tc.wantAudio {
				t.Fatalf("audio = %v, want %v", ok, tc.wantAudio)
			}
			if ok && (a.CodecID != astiav.CodecIDAac || a.Profile != 1 || a.TimeBase.Den() != 48000) {
				t.Errorf("audio = %+v", a)
			}
			if tb := in.Info().TimeBase; tb.Num() != 1 || tb.Den() != tc.video.ClockRate {
				t.Errorf("time base = %v", tb)
			}
		})
	}
}

func TestPacketInputReadsAndEnds(t *testing.T) {
	queue := []media.Packet{
		{PTS: 0, DTS: 0, Key: true, Data: []byte{0, 0, 0, 1, 0x65}},
		{Audio: true, PTS: 10, Data: []byte{1}}, // no audio track: skipped
		{PTS: 3000, DTS: 3000, Data: []byte{0, 0, 0, 1, 0x41}},
	}
	next := func(ctx context.Context) (media.Packet, error) {
		if len(queue) == 0 {
			return media.Packet{}, io.EOF
		}
		pk := queue[0]
		queue = queue[1:]
		return pk, nil
	}
	in, err := NewPacketInput(media.Track{Codec: media.CodecH264, ClockRate: 90000}, nil, next)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	ctx := context.Background()
	for i, want := range []int64{0, 3000} {
		if err := in.ReadPacket(ctx, pkt); err != nil {
			t.Fatal(err)
		}
		key := pkt.Flags().Has(astiav.PacketFlagKey)
		if pkt.Pts() != want || key != (i == 0) || in.IsAudio(pkt) || pkt.Size() != 5 {
			t.Fatalf("packet %d: pts %d key %v size %d", i, pkt.Pts(), key, pkt.Size())
		}
		pkt.Unref()
	}
	if err := in.ReadPacket(ctx, pkt); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("at the end: %v", err)
	}
}

func TestPacketInputInterrupt(t *testing.T) {
	next := func(ctx context.Context) (media.Packet, error) {
		<-ctx.Done()
		return media.Packet{}, ctx.Err()
	}
	in, err := NewPacketInput(media.Track{Codec: media.CodecH264, ClockRate: 90000}, nil, next)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	in.Interrupt()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	if err := in.ReadPacket(context.Background(), pkt); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("after Interrupt: %v", err)
	}
}

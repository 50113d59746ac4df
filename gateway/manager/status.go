package manager

import (
	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/transcode"
)

// The API's types, defined in the leaf package api.
type (
	Status       = api.Status
	InputStatus  = api.InputStatus
	CodecStatus  = api.CodecStatus
	Outputs      = api.Outputs
	VisionStatus = api.VisionStatus
)

// Errors and states, from api.
var (
	ErrNotFound = api.ErrNotFound
	ErrExists   = api.ErrExists
	ErrNoVision = api.ErrNoVision
)

// Source states.
const (
	StateStarting = api.StateStarting
	StateRunning  = api.StateRunning
	StateRetrying = api.StateRetrying
	StateFailed   = api.StateFailed
	StateStopped  = api.StateStopped
	StateWaiting  = api.StateWaiting
)

// status builds the API view of one entry.
func (m *Manager) status(e *entry) Status {
	st := e.pipeline.Stats()
	src := e.src
	src.URL = config.MaskURL(src.URL)
	s := Status{
		Name: src.Name, State: st.State, Source: src,
		Input:    InputStatus{Codec: st.Input.Codec, Width: st.Input.Width, Height: st.Input.Height, FPS: st.Input.FPS},
		Decoder:  codecStatus(st.Decoder, st.Decoding),
		Encoder:  codecStatus(st.Encoder, st.Encoding),
		FramesIn: st.FramesIn, FramesOut: st.FramesOut, FPSOut: st.FPSOut,
		Attempts: st.Attempts, LastError: st.LastError, Since: st.Since,
		Readers: m.opts.Outputs.Readers(src.Name), Outputs: m.opts.Outputs.URLs(src.Name),
	}
	s.Encoder.Starts = st.EncoderStarts
	if a := st.Audio; a != nil {
		s.Audio = &api.AudioStatus{Codec: string(a.Codec), SampleRate: a.SampleRate, Channels: a.Channels,
			Transcoding: st.AudioTranscoding}
		for i, c := range st.AudioConverted {
			if i > 0 {
				s.Audio.TranscodedTo += ","
			}
			s.Audio.TranscodedTo += string(c)
		}
	}
	if p := st.Publisher; p != nil {
		s.Publisher = &api.PublisherStatus{Protocol: string(p.Protocol), Remote: p.Remote, Since: p.Since,
			Dropped: p.Dropped()}
	}
	if e.stage != nil {
		vs := e.stage.Status()
		s.Vision, s.DetectionsPerSec = &vs, vs.DetectionsPerSec
	}
	return s
}

func codecStatus(c transcode.CodecInfo, running bool) CodecStatus {
	return CodecStatus{Name: c.Name, Hardware: c.Hardware, Reason: c.Reason, Running: running}
}

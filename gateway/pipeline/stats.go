package pipeline

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/transcode"
)

// States of a pipeline: the API's source states.
const (
	StateStarting = api.StateStarting
	StateRunning  = api.StateRunning
	StateRetrying = api.StateRetrying
	StateFailed   = api.StateFailed
	StateStopped  = api.StateStopped
	StateWaiting  = api.StateWaiting
)

// Stats is a snapshot of one pipeline.
type Stats struct {
	State     string
	Attempts  int
	LastError string
	Since     time.Time // when State was entered
	Input     transcode.VideoInfo
	Decoder   transcode.CodecInfo
	Encoder   transcode.CodecInfo
	FramesIn  uint64
	FramesOut uint64
	FPSOut    float64
	// Decoding and Encoding tell whether the decoder and the encoder run
	// now: on demand, they stop while nobody needs them.
	Decoding bool
	Encoding bool
	// EncoderStarts counts encoder openings: one per demand period.
	EncoderStarts uint64
	// Audio is the input's sound, nil without; AudioConverted the codecs
	// it is transcoded into, and AudioTranscoding whether that runs now
	// (while an output asks).
	Audio            *media.AudioInfo
	AudioConverted   []media.Codec
	AudioTranscoding bool
	// Publisher is the connected publisher of a publish source.
	Publisher *publish.Info
}

// stats is written by the pipeline goroutines and read by Status calls.
type stats struct {
	framesIn    atomic.Uint64
	framesOut   atomic.Uint64
	fpsBits     atomic.Uint64
	running     atomic.Bool // state == running, readable without the lock
	decoding    atomic.Bool // frames are decoded (someone needs pictures)
	encoding    atomic.Bool // the encoder runs (someone watches)
	encStarts   atomic.Uint64
	transcoding atomic.Bool // the audio transcoder runs
	audio       atomic.Pointer[media.AudioInfo]
	audioConv   atomic.Pointer[[]media.Codec]
	publisher   atomic.Pointer[publish.Info]

	mu       sync.Mutex
	state    string
	since    time.Time
	attempts int
	lastErr  string
	input    transcode.VideoInfo
	decoder  transcode.CodecInfo
	encoder  transcode.CodecInfo

	// rate window, touched only by the output goroutine
	winStart time.Time
	winCount int
}

func newStats() *stats { return &stats{state: StateStarting, since: time.Now()} }

func (s *stats) setState(state string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != state {
		s.state, s.since = state, time.Now()
	}
	if err != nil {
		s.lastErr = err.Error()
	}
	s.running.Store(state == StateRunning)
	if state != StateRunning {
		s.fpsBits.Store(0)
	}
}

func (s *stats) attempt(n int) {
	s.mu.Lock()
	s.attempts = n
	s.mu.Unlock()
}

func (s *stats) setInput(v transcode.VideoInfo, dec transcode.CodecInfo) {
	v.Params = nil // owned by the closed input; never exposed
	s.mu.Lock()
	s.input, s.decoder = v, dec
	s.mu.Unlock()
}

func (s *stats) setEncoder(e transcode.CodecInfo) {
	s.mu.Lock()
	s.encoder = e
	s.mu.Unlock()
}

// frameIn counts one frame from the source: it is running.
func (s *stats) frameIn() {
	s.framesIn.Add(1)
	if !s.running.Load() {
		s.setState(StateRunning, nil)
	}
}

// frameOut counts one published frame and refreshes the output rate
// once a second.
func (s *stats) frameOut(now time.Time) {
	s.framesOut.Add(1)
	if s.winStart.IsZero() {
		s.winStart = now
	}
	s.winCount++
	if el := now.Sub(s.winStart); el >= time.Second {
		s.fpsBits.Store(math.Float64bits(float64(s.winCount) / el.Seconds()))
		s.winStart, s.winCount = now, 0
	}
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		State: s.state, Attempts: s.attempts, LastError: s.lastErr, Since: s.since,
		Input: s.input, Decoder: s.decoder, Encoder: s.encoder,
		FramesIn: s.framesIn.Load(), FramesOut: s.framesOut.Load(),
		FPSOut:   math.Float64frombits(s.fpsBits.Load()),
		Decoding: s.decoding.Load(), Encoding: s.encoding.Load(), EncoderStarts: s.encStarts.Load(),
		Audio: s.audio.Load(), AudioConverted: derefCodecs(s.audioConv.Load()), AudioTranscoding: s.transcoding.Load(),
		Publisher: s.publisher.Load(),
	}
}

// setPublisher records the connected publisher (nil: none).
func (s *stats) setPublisher(p *publish.Info) { s.publisher.Store(p) }

func derefCodecs(c *[]media.Codec) []media.Codec {
	if c == nil {
		return nil
	}
	return *c
}

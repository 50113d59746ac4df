// Package api holds the types the REST API speaks: a source's status, its
// states and the errors the API maps to HTTP codes. It links no media
// library, so the HTTP side and the metrics build and test without libav
// or OpenCV.
package api

import (
	"errors"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/media"
)

// Errors the manager returns; the API maps them to HTTP status codes.
var (
	ErrNoVision = errors.New("source runs no detector")
	ErrNotFound = errors.New("source not found")
	ErrExists   = errors.New("source already exists")
)

// Source states.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateRetrying = "retrying"
	StateFailed   = "failed"
	StateStopped  = "stopped"
	// StateWaiting: a publish source with no publisher connected.
	StateWaiting = "waiting"
)

// Status is a snapshot of one source, as the API returns it.
type Status struct {
	Name   string        `json:"name"`
	State  string        `json:"state"`
	Source config.Source `json:"source"` // as configured, credentials masked
	Input  InputStatus   `json:"input"`
	// Audio is the input's sound track, when it has one the outputs carry.
	Audio *AudioStatus `json:"audio,omitempty"`
	// Decoder and Encoder are empty while nothing was opened yet, and for
	// a relay (transcode: false) the encoder stays empty.
	Decoder          CodecStatus    `json:"decoder"`
	Encoder          CodecStatus    `json:"encoder"`
	FramesIn         uint64         `json:"frames_in"`
	FramesOut        uint64         `json:"frames_out"`
	FPSOut           float64        `json:"fps_out"`
	DetectionsPerSec float64        `json:"detections_per_sec"`
	Vision           *VisionStatus  `json:"vision,omitempty"`
	Readers          map[string]int `json:"readers"`
	Attempts         int            `json:"attempts"`
	LastError        string         `json:"last_error,omitempty"`
	Since            time.Time      `json:"since"`
	Outputs          Outputs        `json:"outputs"`
	// Publisher is the publisher connected to a publish source.
	Publisher *PublisherStatus `json:"publisher,omitempty"`
}

// PublisherStatus describes who pushes a publish source's stream.
type PublisherStatus struct {
	Protocol string    `json:"protocol"`
	Remote   string    `json:"remote"`
	Since    time.Time `json:"since"`
	// Dropped counts packets the source fell too far behind to take.
	Dropped int64 `json:"dropped"`
}

// InputStatus describes the input's video track.
type InputStatus struct {
	Codec  string  `json:"codec,omitempty"`
	Width  int     `json:"width,omitempty"`
	Height int     `json:"height,omitempty"`
	FPS    float64 `json:"fps,omitempty"`
}

// AudioStatus describes the input's sound, the codecs it is transcoded to
// (comma-separated: the one the source asks for, then AAC for LL-HLS and
// Opus for WebRTC where the track's codec cannot go there) and whether a
// transcoding runs now (while someone listens).
type AudioStatus struct {
	Codec        string `json:"codec"`
	SampleRate   int    `json:"sample_rate"`
	Channels     int    `json:"channels"`
	TranscodedTo string `json:"transcoded_to,omitempty"`
	Transcoding  bool   `json:"transcoding"`
}

// CodecStatus says which libav codec was opened and why, and whether it
// runs now: on demand, the encoder stops while nobody watches and the
// decoder while nothing needs pictures.
type CodecStatus struct {
	Name     string `json:"name,omitempty"`
	Hardware bool   `json:"hardware"`
	Reason   string `json:"reason,omitempty"`
	Running  bool   `json:"running"`
	// Starts counts openings (the encoder: one per period with readers).
	Starts uint64 `json:"starts,omitempty"`
}

// Outputs are the URLs a source can be watched at, by kind: "rtsp",
// "hls", "mjpeg", "snapshot", one per registered output's URL.
type Outputs map[string]string

// VisionStatus is the detection side of a source's status.
type VisionStatus struct {
	Detector         string  `json:"detector"`
	DetectionsPerSec float64 `json:"detections_per_sec"`
	LatencyMS        float64 `json:"latency_ms"`     // sampled frame → result
	BoxAgeMS         float64 `json:"box_age_ms"`     // age of the boxes being drawn
	BoxAgeFrames     uint64  `json:"box_age_frames"` // frames since the boxes' frame
	Boxes            int     `json:"boxes"`
	Sampled          uint64  `json:"sampled"`
	SkippedBusy      uint64  `json:"skipped_busy"` // due frames skipped: a detection was in flight
	Errors           uint64  `json:"errors"`
	LastError        string  `json:"last_error,omitempty"`
	EventsDropped    uint64  `json:"events_dropped"`
	// dnn: the runtime and execution provider in use, and why not an
	// earlier provider.
	Runtime        string `json:"runtime,omitempty"`
	Provider       string `json:"provider,omitempty"`
	ProviderReason string `json:"provider_reason,omitempty"`
	// Counts: objects now, zone occupancy and line crossings (tracker on).
	Counts *media.Counts `json:"counts,omitempty"`
}

// PipelineObserver receives a source's per-frame timings (the metrics
// histograms). Calls come from the video path and must not block.
type PipelineObserver interface {
	Decode(d time.Duration)  // one packet: send to the decoder and drain it
	Stage(d time.Duration)   // the frame stage (vision sampling and drawing)
	Encode(d time.Duration)  // one frame: send to the encoder and drain it
	Latency(d time.Duration) // input packet read → encoded unit on the hub
}

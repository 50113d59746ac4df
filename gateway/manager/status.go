package manager

import (
	"errors"
	"time"

	"github.com/visiongate/visiongate/gateway/config"
)

// Errors the manager returns; the API maps them to HTTP status codes.
var (
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
)

// Status is a snapshot of one source, as the API returns it.
type Status struct {
	Name   string        `json:"name"`
	State  string        `json:"state"`
	Source config.Source `json:"source"` // as configured, credentials masked
	Input  InputStatus   `json:"input"`
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
}

// InputStatus describes the input's video track.
type InputStatus struct {
	Codec  string  `json:"codec,omitempty"`
	Width  int     `json:"width,omitempty"`
	Height int     `json:"height,omitempty"`
	FPS    float64 `json:"fps,omitempty"`
}

// CodecStatus says which libav codec runs and why.
type CodecStatus struct {
	Name     string `json:"name,omitempty"`
	Hardware bool   `json:"hardware"`
	Reason   string `json:"reason,omitempty"`
}

// Outputs are the URLs a source can be watched at.
type Outputs struct {
	RTSP     string `json:"rtsp"`
	HLS      string `json:"hls"`
	MJPEG    string `json:"mjpeg"`
	Snapshot string `json:"snapshot"`
}

// status builds the API view of one entry.
func (m *Manager) status(e *entry) Status {
	st := e.pipeline.Stats()
	src := e.src
	src.URL = config.MaskURL(src.URL)
	s := Status{
		Name: src.Name, State: st.State, Source: src,
		Input:   InputStatus{Codec: st.Input.Codec, Width: st.Input.Width, Height: st.Input.Height, FPS: st.Input.FPS},
		Decoder: CodecStatus(st.Decoder), Encoder: CodecStatus(st.Encoder),
		FramesIn: st.FramesIn, FramesOut: st.FramesOut, FPSOut: st.FPSOut,
		Attempts: st.Attempts, LastError: st.LastError, Since: st.Since,
		Readers: map[string]int{},
	}
	for _, p := range m.opts.Publishers {
		s.Readers[p.Protocol()] = p.Readers(src.Name)
	}
	s.Readers["mjpeg"] = e.jpeg.Viewers()
	if e.stage != nil {
		vs := e.stage.Status()
		s.Vision, s.DetectionsPerSec = &vs, vs.DetectionsPerSec
	}
	if m.opts.URLs != nil {
		s.Outputs = m.opts.URLs(src.Name)
	}
	return s
}

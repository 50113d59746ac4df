// Package media holds the types that flow between visiongate's stages:
// encoded access units on their way to publishers, the stream description
// that goes with them, and detection results. It imports nothing but the
// standard library so that every other package may depend on it.
package media

import "time"

// ClockRate is the timestamp clock of every AccessUnit (the RTP and MPEG-TS
// video clock), so publishers never rescale.
const ClockRate = 90000

// Codec names a compressed video format carried by a hub.
type Codec string

// Codecs a hub can carry.
const (
	CodecH264 Codec = "h264"
	CodecH265 Codec = "h265"
)

// StreamInfo describes the encoded stream of one source. A new StreamInfo
// value (a new pointer) is created whenever parameters change, so readers can
// detect a change by comparing pointers.
type StreamInfo struct {
	Codec  Codec
	Width  int
	Height int
	FPS    float64
	// Parameter sets without start codes; VPS is H.265 only.
	VPS, SPS, PPS []byte
}

// AccessUnit is one encoded video frame. Once handed to a hub it is shared
// by every reader and must not be modified.
type AccessUnit struct {
	Info  *StreamInfo
	NALUs [][]byte // without start codes
	PTS   int64    // in ClockRate units, monotonic per source
	DTS   int64
	IDR   bool // random access point: decoding can start here
	// Received is when the input packet that produced this unit arrived;
	// used to measure pipeline latency.
	Received time.Time
}

// Duration converts a timestamp in ClockRate units into a time.Duration.
func Duration(ts int64) time.Duration {
	return time.Duration(ts) * time.Second / ClockRate
}

// Box is one detected object in source pixel coordinates.
type Box struct {
	X       int     `json:"x"`
	Y       int     `json:"y"`
	W       int     `json:"w"`
	H       int     `json:"h"`
	Label   string  `json:"label"`
	Score   float32 `json:"score"`
	ClassID int     `json:"class_id"`
}

// Detections is the result of running a detector on one frame.
type Detections struct {
	Source   string        `json:"source"`
	Time     time.Time     `json:"time"`
	PTS      int64         `json:"pts"`
	Width    int           `json:"width"`
	Height   int           `json:"height"`
	Latency  time.Duration `json:"latency_ns"`
	Detector string        `json:"detector"`
	Boxes    []Box         `json:"boxes"`
}

// PixelLayout is the memory layout of a Frame.
type PixelLayout int

// Layouts the pipeline hands to frame stages.
const (
	LayoutI420 PixelLayout = iota // Y, U, V planes, chroma halved both ways
	LayoutNV12                    // Y plane, interleaved UV plane
)

// Frame is a view of one decoded picture at output size. Its memory
// belongs to the pipeline and is valid only during the call it is passed
// to; a stage that keeps pixels must copy them.
type Frame struct {
	Width   int
	Height  int
	Layout  PixelLayout
	Planes  [3][]byte
	Strides [3]int
	PTS     int64 // output clock (ClockRate)
}

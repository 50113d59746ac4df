// Package media holds the types that flow between visiongate's stages:
// encoded access units on their way to publishers, the stream description
// that goes with them, and detection results. It imports nothing but the
// standard library so that every other package may depend on it.
package media

import "time"

// ClockRate is the timestamp clock of every AccessUnit (the RTP and MPEG-TS
// video clock), so publishers never rescale.
const ClockRate = 90000

// Codec names a compressed format carried by a hub.
type Codec string

// Codecs a hub can carry: video, then audio.
const (
	CodecH264 Codec = "h264"
	CodecH265 Codec = "h265"
	CodecAAC  Codec = "aac"
	CodecOpus Codec = "opus"
	CodecPCMA Codec = "pcma" // G.711 A-law
	CodecPCMU Codec = "pcmu" // G.711 µ-law
	CodecMP3  Codec = "mp3"
	CodecAC3  Codec = "ac3"
	// Codecs a publisher may push in; they are decoded, never carried.
	CodecVP8 Codec = "vp8"
	CodecVP9 Codec = "vp9"
	CodecAV1 Codec = "av1"
)

// Track describes one track a publisher pushes in (publish sources).
type Track struct {
	Codec Codec
	// ClockRate is the clock of the track's Packet timestamps.
	ClockRate int
	// Config is the codec's configuration: H.264/H.265 parameter sets in
	// Annex B, AAC's AudioSpecificConfig. May be empty when the stream
	// carries it in band.
	Config []byte
	// Width and Height, when the publisher announced them (0: unknown).
	Width, Height int
	// SampleRate and Channels describe an audio track.
	SampleRate, Channels int
}

// Packet is one pushed access unit: a video frame (H.264/H.265 in Annex
// B), an audio frame, or, from a byte-stream publisher, a chunk of its
// container with no timestamps. The receiver owns Data.
type Packet struct {
	Audio    bool
	PTS, DTS int64 // in the track's ClockRate
	Key      bool
	Data     []byte
}

// AudioInfo describes a source's audio track.
type AudioInfo struct {
	Codec      Codec
	SampleRate int
	Channels   int
	// Config is the codec's configuration: AAC's AudioSpecificConfig.
	Config []byte
}

// SameAudio tells whether two audio descriptions (nil: no sound) are the
// same track for a player.
func SameAudio(a, b *AudioInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Codec == b.Codec && a.SampleRate == b.SampleRate && a.Channels == b.Channels &&
		string(a.Config) == string(b.Config)
}

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
	// Audio is the source's audio track, nil without sound. Its units
	// come through the same hub (AccessUnit.Audio).
	Audio *AudioInfo
	// Converted are Audio transcoded to codecs that some outputs need
	// and Audio is not in (AAC for LL-HLS, Opus for WebRTC); their units
	// come while an output asks for them (hub.WantAudio).
	Converted []*AudioInfo
}

// AudioAs is the audio track in codec c: Audio itself, or the one
// converted to c; nil without.
func (s *StreamInfo) AudioAs(c Codec) *AudioInfo {
	if s.Audio != nil && s.Audio.Codec == c {
		return s.Audio
	}
	for _, a := range s.Converted {
		if a.Codec == c {
			return a
		}
	}
	return nil
}

// AccessUnit is one encoded video frame, or a run of audio frames. Once
// handed to a hub it is shared by every reader and must not be modified.
type AccessUnit struct {
	// Audio, when set, makes this an audio unit of that track: Frames
	// holds its codec frames (AAC access units, Opus packets, G.711
	// samples, MP3 or AC-3 frames), the first at PTS; NALUs, IDR and Info
	// are unused. Audio and video share the PTS clock.
	Audio  *AudioInfo
	Frames [][]byte

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
	// TrackID names the same object across results (1, 2, ...; never
	// reused within a source); 0 when no tracker runs.
	TrackID uint64 `json:"track_id,omitempty"`
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
	// Events are the object, zone and line events this result caused.
	Events []Event `json:"events,omitempty"`
	// Counts is the live tally after this result (nil without a tracker).
	// Shared by every subscriber: read only.
	Counts *Counts `json:"counts,omitempty"`
}

// Event types: an object's lifecycle, zones and lines.
const (
	EventNew    = "new"    // a track was confirmed
	EventUpdate = "update" // a confirmed track is still there (throttled)
	EventEnd    = "end"    // a track was lost for good
	EventEnter  = "enter"  // an object entered a zone
	EventExit   = "exit"   // an object left a zone (or ended inside it)
	EventCross  = "cross"  // an object crossed a line
)

// Line crossing directions: walking from a line's From to its To, "in"
// crosses from your left to your right, "out" the other way.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// Event is one thing that happened to a tracked object.
type Event struct {
	Type      string    `json:"type"`
	Source    string    `json:"source"`
	TrackID   uint64    `json:"track_id"`
	Label     string    `json:"label"`
	Score     float32   `json:"score"`
	Box       Box       `json:"box"`
	Zone      string    `json:"zone,omitempty"`      // enter, exit
	Line      string    `json:"line,omitempty"`      // cross
	Direction string    `json:"direction,omitempty"` // cross: in or out
	Time      time.Time `json:"time"`
	PTS       int64     `json:"pts"`
	// end only: how long the track lived, and its best detection.
	Duration  float64 `json:"duration,omitempty"` // seconds
	BestScore float32 `json:"best_score,omitempty"`
	BestBox   *Box    `json:"best_box,omitempty"`
}

// Counts is a source's live tally: objects now (per label), objects in
// each zone (per label) and crossings of each line since the start.
type Counts struct {
	Objects map[string]int            `json:"objects"`
	Zones   map[string]map[string]int `json:"zones,omitempty"`
	Lines   map[string]LineCount      `json:"lines,omitempty"`
}

// LineCount counts a line's crossings in each direction.
type LineCount struct {
	In  uint64 `json:"in"`
	Out uint64 `json:"out"`
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

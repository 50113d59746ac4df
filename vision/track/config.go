// Package track follows detected objects across detector results with a
// ByteTrack-style tracker: a constant-velocity Kalman filter per track and
// two matching stages, so that low-scoring detections keep existing tracks
// alive (an occluded person) without ever starting new ones (noise).
package track

import (
	"fmt"
	"math"
	"time"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultMaxAge  = 2 * time.Second
	DefaultMinHits = 2
	DefaultIoU     = 0.3
	DefaultHigh    = 0.5
)

// LowIoU is the least IoU for the second stage (low-score detections
// against tracks matched at the previous update). ByteTrack accepts a cost
// (1 - IoU) below 0.5 there; a low detection is weak evidence, so it must
// overlap the prediction well.
const LowIoU = 0.5

// Config tunes a Tracker.
type Config struct {
	MaxAge  time.Duration // a track unmatched this long ends
	MinHits int           // matches before a track is confirmed
	IoU     float32       // least IoU for a match in the first stage
	High    float32       // scores >= High are "high" detections
}

// ConfigError names the invalid field of a Config.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "track." + e.Field + ": " + e.Reason }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// WithDefaults returns c with zero values replaced by defaults.
func (c Config) WithDefaults() Config {
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MinHits == 0 {
		c.MinHits = DefaultMinHits
	}
	if c.IoU == 0 {
		c.IoU = DefaultIoU
	}
	if c.High == 0 {
		c.High = DefaultHigh
	}
	return c
}

// Validate checks c after WithDefaults. High goes up to 1000 because some
// detectors (HOG people) score with an SVM margin rather than 0..1.
func (c Config) Validate() error {
	switch {
	case c.MaxAge < 0 || c.MaxAge > time.Hour:
		return cfgErr("max_age", "must be between 0 and 1h")
	case c.MinHits < 1 || c.MinHits > 100:
		return cfgErr("min_hits", "must be between 1 and 100")
	case !within(c.IoU, 0, 1):
		return cfgErr("iou", "must be between 0 and 1")
	case !within(c.High, 0, 1000):
		return cfgErr("high", "must be between 0 and 1000")
	}
	return nil
}

// within is false for NaN, which a plain pair of comparisons lets through.
func within(v, lo, hi float32) bool {
	return !math.IsNaN(float64(v)) && v >= lo && v <= hi
}

// Package analytics turns tracker updates into object events (new, update,
// end), zone events (enter, exit) and line crossings, and keeps a live
// tally of objects, zone occupancy and crossings.
//
// An object's position is the anchor point of its box, the bottom centre
// (x + w/2, y + h): where a person stands or a car touches the road, which
// is what a zone drawn on the floor means, rather than the box centre,
// which floats above the ground with perspective.
package analytics

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultUpdateEvery = time.Second
	DefaultMinFrames   = 1
)

// Limits checked by Config.Validate.
const (
	MaxZones     = 64
	MaxLines     = 64
	MaxPoints    = 256 // per polygon
	MaxLabels    = 256 // per filter
	MaxCoord     = 100000
	MaxMinFrames = 1000
)

// Zone is an area of the picture; objects entering and leaving it are
// reported and counted.
type Zone struct {
	Name      string       // ^[A-Za-z0-9_-]{1,64}$, unique among zones and lines, not "all"
	Polygon   [][2]float64 // >= 3 points, source pixels
	Labels    []string     // empty: every label
	MinFrames int          // consecutive results inside (or outside) before enter (or exit)
}

// Line is a segment of the picture; objects crossing it are reported and
// counted per direction (see media.DirectionIn).
type Line struct {
	Name     string
	From, To [2]float64 // distinct points, source pixels
	Labels   []string   // empty: every label
}

// Config lists the zones and lines of one source.
type Config struct {
	Zones       []Zone
	Lines       []Line
	UpdateEvery time.Duration // least time between "update" events of a track
}

// ConfigError names the invalid field of a Config.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "analytics." + e.Field + ": " + e.Reason }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// WithDefaults returns c with zero values replaced by defaults. The zones
// are copied so that the caller's slice is left alone.
func (c Config) WithDefaults() Config {
	if c.UpdateEvery == 0 {
		c.UpdateEvery = DefaultUpdateEvery
	}
	c.Zones = slices.Clone(c.Zones)
	for i := range c.Zones {
		if c.Zones[i].MinFrames == 0 {
			c.Zones[i].MinFrames = DefaultMinFrames
		}
	}
	return c
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks c, before or after WithDefaults.
func (c Config) Validate() error {
	switch {
	case len(c.Zones) > MaxZones:
		return cfgErr("zones", "at most %d", MaxZones)
	case len(c.Lines) > MaxLines:
		return cfgErr("lines", "at most %d", MaxLines)
	case c.UpdateEvery < 0 || c.UpdateEvery > time.Hour:
		return cfgErr("update_every", "must be between 0 and 1h")
	}
	names := map[string]bool{}
	for i, z := range c.Zones {
		if err := z.validate(fmt.Sprintf("zones[%d]", i), names); err != nil {
			return err
		}
	}
	for i, l := range c.Lines {
		if err := l.validate(fmt.Sprintf("lines[%d]", i), names); err != nil {
			return err
		}
	}
	return nil
}

func (z Zone) validate(field string, names map[string]bool) error {
	if err := checkName(field+".name", z.Name, names); err != nil {
		return err
	}
	if err := checkLabels(field+".labels", z.Labels); err != nil {
		return err
	}
	if z.MinFrames < 0 || z.MinFrames > MaxMinFrames {
		return cfgErr(field+".min_frames", "must be between 0 and %d", MaxMinFrames)
	}
	f := field + ".polygon"
	if len(z.Polygon) < 3 || len(z.Polygon) > MaxPoints {
		return cfgErr(f, "needs 3 to %d points", MaxPoints)
	}
	for i, p := range z.Polygon {
		if !inRange(p) {
			return cfgErr(f, "point %d: coordinates must be finite and within ±%d", i, MaxCoord)
		}
	}
	if area(z.Polygon) == 0 {
		return cfgErr(f, "encloses no area")
	}
	return nil
}

func (l Line) validate(field string, names map[string]bool) error {
	if err := checkName(field+".name", l.Name, names); err != nil {
		return err
	}
	if err := checkLabels(field+".labels", l.Labels); err != nil {
		return err
	}
	if !inRange(l.From) {
		return cfgErr(field+".from", "coordinates must be finite and within ±%d", MaxCoord)
	}
	if !inRange(l.To) {
		return cfgErr(field+".to", "coordinates must be finite and within ±%d", MaxCoord)
	}
	if l.From == l.To {
		return cfgErr(field+".to", "must differ from from")
	}
	return nil
}

// checkName also records name: zones and lines share one namespace, and
// "all" is kept for consumers that aggregate.
func checkName(field, name string, names map[string]bool) error {
	switch {
	case !nameRE.MatchString(name):
		return cfgErr(field, "must be 1 to 64 letters, digits, _ or -")
	case name == "all":
		return cfgErr(field, `"all" is reserved`)
	case names[name]:
		return cfgErr(field, "%q is used twice", name)
	}
	names[name] = true
	return nil
}

func checkLabels(field string, labels []string) error {
	if len(labels) > MaxLabels {
		return cfgErr(field, "at most %d", MaxLabels)
	}
	for i, l := range labels {
		if l == "" {
			return cfgErr(field, "label %d is empty", i)
		}
	}
	return nil
}

// inRange is false for NaN and infinities too.
func inRange(p [2]float64) bool {
	return math.Abs(p[0]) <= MaxCoord && math.Abs(p[1]) <= MaxCoord
}

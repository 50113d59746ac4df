package config

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A lavfi: source is one synthetic video source filter from a fixed list,
// with named options from that filter's own list, each value checked
// against its type and bounds. Anything else a filter graph can say
// (chains, labels, escapes, positional options, other filters such as
// movie, drawtext or metadata that read or write files) is refused.

// optCheck validates one option value.
type optCheck func(v string) error

// Option checks shared by the source filters.
var (
	lavfiSize     = optCheck(checkLavfiSize)
	lavfiRate     = optCheck(checkLavfiRate)
	lavfiDuration = optCheck(checkLavfiDuration)
	lavfiSAR      = optCheck(checkLavfiSAR)
	lavfiColor    = optCheck(checkLavfiColor)
	lavfiBool     = optCheck(checkLavfiBool)
)

func lavfiInt(lo, hi int64) optCheck {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer from %d to %d", lo, hi)
		}
		return nil
	}
}

func lavfiFloat(lo, hi float64) optCheck {
	return func(v string) error {
		if !decimalRe.MatchString(v) {
			return fmt.Errorf("must be a decimal number from %g to %g", lo, hi)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < lo || f > hi {
			return fmt.Errorf("must be a decimal number from %g to %g", lo, hi)
		}
		return nil
	}
}

// lavfiCommon are the options every pattern generator takes.
var lavfiCommon = map[string]optCheck{
	"size": lavfiSize, "s": lavfiSize, "rate": lavfiRate, "r": lavfiRate,
	"duration": lavfiDuration, "d": lavfiDuration, "sar": lavfiSAR,
}

// lavfiFilters lists the allowed source filters and their options (FFmpeg
// 5.1 names). life and cellauto also have filename/pattern options, which
// read files: they are left out on purpose.
var lavfiFilters = map[string]map[string]optCheck{
	"testsrc":       with(lavfiCommon, map[string]optCheck{"decimals": lavfiInt(0, 17), "n": lavfiInt(0, 17)}),
	"testsrc2":      with(lavfiCommon, map[string]optCheck{"alpha": lavfiInt(0, 255)}),
	"smptebars":     lavfiCommon,
	"smptehdbars":   lavfiCommon,
	"rgbtestsrc":    with(lavfiCommon, map[string]optCheck{"complement": lavfiBool, "co": lavfiBool}),
	"yuvtestsrc":    lavfiCommon,
	"pal75bars":     lavfiCommon,
	"pal100bars":    lavfiCommon,
	"nullsrc":       lavfiCommon,
	"colorspectrum": with(lavfiCommon, map[string]optCheck{"type": lavfiInt(0, 2)}),
	"color":         with(lavfiCommon, map[string]optCheck{"color": lavfiColor, "c": lavfiColor}),
	"mandelbrot": {
		"size": lavfiSize, "s": lavfiSize, "rate": lavfiRate, "r": lavfiRate,
		"maxiter": lavfiInt(1, 10000), "start_x": lavfiFloat(-100, 100), "start_y": lavfiFloat(-100, 100),
		"start_scale": lavfiFloat(0, 1000), "end_scale": lavfiFloat(0, 1000), "end_pts": lavfiFloat(0, 86400),
	},
	"life": {
		"size": lavfiSize, "s": lavfiSize, "rate": lavfiRate, "r": lavfiRate,
		"rule": checkLifeRule, "random_fill_ratio": lavfiFloat(0, 1), "ratio": lavfiFloat(0, 1),
		"random_seed": lavfiInt(-1, math.MaxUint32), "seed": lavfiInt(-1, math.MaxUint32),
		"stitch": lavfiBool, "mold": lavfiInt(0, 255),
		"life_color": lavfiColor, "death_color": lavfiColor, "mold_color": lavfiColor,
	},
	"cellauto": {
		"size": lavfiSize, "s": lavfiSize, "rate": lavfiRate, "r": lavfiRate,
		"rule": lavfiInt(0, 255), "random_fill_ratio": lavfiFloat(0, 1), "ratio": lavfiFloat(0, 1),
		"random_seed": lavfiInt(-1, math.MaxUint32), "seed": lavfiInt(-1, math.MaxUint32),
		"scroll": lavfiBool, "start_full": lavfiBool, "full": lavfiBool, "stitch": lavfiBool,
	},
}

func with(base, extra map[string]optCheck) map[string]optCheck {
	m := make(map[string]optCheck, len(base)+len(extra))
	for k, v := range base {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// Limits of lavfi sources.
const (
	maxLavfiDimension = 4096
	maxLavfiRate      = 120
	maxLavfiSeconds   = 86400
)

var (
	filterNameRe = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
	optNameRe    = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
	decimalRe    = regexp.MustCompile(`^-?[0-9]{1,12}(\.[0-9]{1,12})?$`)
	rateRe       = regexp.MustCompile(`^[0-9]{1,6}(\.[0-9]{1,6})?(/[0-9]{1,6})?$`)
	durationRe   = regexp.MustCompile(`^([0-9]{1,6}(\.[0-9]{1,6})?)(s|ms|us)?$`)
	sarRe        = regexp.MustCompile(`^[0-9]{1,5}(/[0-9]{1,5}|\.[0-9]{1,6})?$`)
	colorRe      = regexp.MustCompile(`^([A-Za-z]{1,32}|0x[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?)(@(0x[0-9A-Fa-f]{2}|[01](\.[0-9]{1,6})?))?$`)
	lifeRuleRe   = regexp.MustCompile(`^([BbSs][0-8]{0,9}/[BbSs][0-8]{0,9}|[0-9]{1,6})$`)
)

// parseLavfi checks a lavfi graph against the allow-list.
func parseLavfi(graph string) (*SourceURL, error) {
	if graph == "" {
		return nil, fmt.Errorf("%w: lavfi needs a source filter, e.g. lavfi:testsrc2=size=640x360:rate=25", ErrURLForm)
	}
	if err := checkLavfiGraph(graph); err != nil {
		return nil, fmt.Errorf("%w: lavfi: %v", ErrURLLavfi, err)
	}
	return &SourceURL{Kind: KindLavfi, Scheme: "lavfi", Input: graph, Format: "lavfi",
		Whitelist: "none", RealTime: true}, nil
}

func checkLavfiGraph(graph string) error {
	if i := strings.IndexAny(graph, ",;[]'\"\\ \t\n\r\x00"); i >= 0 {
		return fmt.Errorf("one source filter only: %q is not allowed (no chains, labels or quoting)", graph[i])
	}
	name, args, _ := strings.Cut(graph, "=")
	opts, ok := lavfiFilters[name]
	if !filterNameRe.MatchString(name) || !ok {
		return fmt.Errorf("filter %q is not allowed; use one of %s", name, lavfiFilterList())
	}
	if args == "" {
		return nil
	}
	for _, kv := range strings.Split(args, ":") {
		key, val, hasVal := strings.Cut(kv, "=")
		if !hasVal || !optNameRe.MatchString(key) {
			return fmt.Errorf("%s: options must be written key=value, got %q", name, kv)
		}
		check, ok := opts[key]
		if !ok {
			return fmt.Errorf("%s: option %q is not allowed", name, key)
		}
		if err := check(val); err != nil {
			return fmt.Errorf("%s: %s %v", name, key, err)
		}
	}
	return nil
}

func lavfiFilterList() string {
	names := make([]string, 0, len(lavfiFilters))
	for n := range lavfiFilters {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func checkLavfiSize(v string) error {
	w, h, ok := strings.Cut(v, "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || wi < 1 || hi < 1 || wi > maxLavfiDimension || hi > maxLavfiDimension {
		return fmt.Errorf("must be WIDTHxHEIGHT, each from 1 to %d", maxLavfiDimension)
	}
	return nil
}

func checkLavfiRate(v string) error {
	if !rateRe.MatchString(v) {
		return fmt.Errorf("must be a frame rate such as 25 or 30000/1001, above 0 and at most %d", maxLavfiRate)
	}
	num, den, frac := strings.Cut(v, "/")
	n, _ := strconv.ParseFloat(num, 64)
	d := 1.0
	if frac {
		d, _ = strconv.ParseFloat(den, 64)
	}
	if d == 0 || n/d <= 0 || n/d > maxLavfiRate {
		return fmt.Errorf("must be above 0 and at most %d frames per second", maxLavfiRate)
	}
	return nil
}

func checkLavfiDuration(v string) error {
	m := durationRe.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("must be seconds such as 10, 2.5 or 500ms, at most %d s", maxLavfiSeconds)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	if m[3] == "ms" {
		f /= 1e3
	} else if m[3] == "us" {
		f /= 1e6
	}
	if f > maxLavfiSeconds {
		return fmt.Errorf("must be at most %d s", maxLavfiSeconds)
	}
	return nil
}

func checkLavfiSAR(v string) error {
	if !sarRe.MatchString(v) {
		return fmt.Errorf("must be a ratio such as 1/1 or 1.333")
	}
	return nil
}

func checkLavfiColor(v string) error {
	if !colorRe.MatchString(v) {
		return fmt.Errorf("must be a colour name or 0xRRGGBB[AA], optionally @alpha")
	}
	return nil
}

func checkLavfiBool(v string) error {
	switch v {
	case "0", "1", "true", "false":
		return nil
	}
	return fmt.Errorf("must be 0, 1, true or false")
}

func checkLifeRule(v string) error {
	if !lifeRuleRe.MatchString(v) {
		return fmt.Errorf("must be a rule such as B3/S23")
	}
	return nil
}

package analytics

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
	"github.com/visiongate/visiongate/vision/track"
)

type pathCase struct {
	name       string
	minFrames  int
	zoneLabels []string
	lineLabels []string
	label      string
	path       []pos
	end        bool
	want       []string
	occupancy  int // of label in zone z at the end
	line       media.LineCount
}

// pathConfig has zone z (square) and line l along y=500 from x=0 to 1000;
// "in" is downward.
func (c pathCase) config() Config {
	return Config{
		Zones:       []Zone{{Name: "z", Polygon: square, MinFrames: c.minFrames, Labels: c.zoneLabels}},
		Lines:       []Line{{Name: "l", From: [2]float64{0, 500}, To: [2]float64{1000, 500}, Labels: c.lineLabels}},
		UpdateEvery: time.Hour,
	}
}

// pathCases also seed FuzzAnalytics.
func pathCases() []pathCase {
	lostIn := []pos{{x: 50, y: 200}, {x: 200, y: 200}, {x: 200, y: 200, lost: true}, {x: 210, y: 200}, {x: 220, y: 200}}
	return []pathCase{
		{name: "through the zone", path: horizontal(200, 10, 60, 7),
			want: []string{"0 new", "2 enter z", "5 exit z"}},
		{name: "min frames 3", minFrames: 3, path: horizontal(200, 5, 30, 14),
			want: []string{"0 new", "6 enter z", "12 exit z"}},
		{name: "visit shorter than min frames", minFrames: 3, path: horizontal(200, 50, 100, 4),
			want: []string{"0 new"}},
		{name: "jitter at the zone edge, min frames 3", minFrames: 3,
			path: []pos{{95, 200, false}, {105, 200, false}, {95, 200, false}, {105, 200, false}, {106, 200, false}, {95, 200, false}},
			want: []string{"0 new"}},
		{name: "jitter at the zone edge, min frames 1", minFrames: 1,
			path: []pos{{95, 200, false}, {105, 200, false}, {95, 200, false}, {105, 200, false}},
			want: []string{"0 new", "1 enter z", "2 exit z", "3 enter z"}, occupancy: 1},
		{name: "lost results neither count nor reset", minFrames: 3, path: lostIn,
			want: []string{"0 new", "4 enter z"}, occupancy: 1},
		{name: "label filtered out", label: "car", zoneLabels: []string{"person"}, lineLabels: []string{"person"},
			path: append(horizontal(200, 10, 60, 4), vertical(500, 480, 520)...), want: []string{"0 new"}},
		{name: "label in filter", zoneLabels: []string{"person", "dog"}, lineLabels: []string{"person"},
			path: append(horizontal(200, 10, 60, 4), vertical(500, 480, 520)...),
			want: []string{"0 new", "2 enter z", "4 exit z", "5 cross l in"}, line: media.LineCount{In: 1}},
		{name: "ends inside", path: horizontal(200, 10, 60, 3), end: true,
			want: []string{"0 new", "2 enter z", "3 exit z", "3 end"}},
		{name: "crosses downward: in", path: vertical(500, 460, 480, 520, 540),
			want: []string{"0 new", "2 cross l in"}, line: media.LineCount{In: 1}},
		{name: "crosses upward: out", path: vertical(500, 540, 520, 480),
			want: []string{"0 new", "2 cross l out"}, line: media.LineCount{Out: 1}},
		{name: "passes beyond the end of the line", path: vertical(1100, 460, 540),
			want: []string{"0 new"}},
		{name: "touches the line and comes back", path: vertical(500, 480, 500, 480, 500, 480, 500),
			want: []string{"0 new"}},
		{name: "touches the line and goes on", path: vertical(500, 480, 500, 500, 520),
			want: []string{"0 new", "3 cross l in"}, line: media.LineCount{In: 1}},
		{name: "jitters across", path: vertical(500, 495, 505, 495, 505),
			want: []string{"0 new", "1 cross l in", "2 cross l out", "3 cross l in"}, line: media.LineCount{In: 2, Out: 1}},
		{name: "diagonal through zone then line", path: []pos{{50, 50, false}, {200, 200, false}, {400, 450, false}, {600, 700, false}},
			end: true, want: []string{"0 new", "1 enter z", "2 exit z", "3 cross l in", "4 end"}, line: media.LineCount{In: 1}},
	}
}

func TestPaths(t *testing.T) {
	for _, c := range pathCases() {
		t.Run(c.name, func(t *testing.T) {
			label := c.label
			if label == "" {
				label = "person"
			}
			a := New("cam", c.config())
			got := run(a, pathUpdates(label, c.path, c.end))
			if !slices.Equal(got, c.want) {
				t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			counts := a.Counts()
			if n := counts.Zones["z"][label]; n != c.occupancy {
				t.Fatalf("occupancy %d, want %d (%v)", n, c.occupancy, counts.Zones)
			}
			if counts.Lines["l"] != c.line {
				t.Fatalf("line count %+v, want %+v", counts.Lines["l"], c.line)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	a := New("cam", Config{UpdateEvery: time.Second})
	var ups []track.Update
	for i := range 17 {
		// Matched every result but 6-8 (lost) and 16.
		tr := tracked(4, "car", 500, 500, i, i < 6 || (i > 8 && i < 16))
		ups = append(ups, track.Update{Tracks: []track.Track{tr}})
	}
	ended := tracked(4, "car", 500, 500, 15, false)
	ended.BestScore, ended.BestBox.Score = 0.97, 0.97
	ups = append(ups, track.Update{Ended: []track.Track{ended}})
	got := run(a, ups)
	want := []string{"0 new", "5 update", "10 update", "15 update", "17 end"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	evs := New("cam", Config{}).Update(t0, 9, track.Update{Ended: []track.Track{ended}})
	e := evs[0]
	if e.Source != "cam" || e.TrackID != 4 || e.Box.TrackID != 4 || e.PTS != 9 || !e.Time.Equal(t0) {
		t.Fatalf("end event %+v", e)
	}
	if math.Abs(e.Duration-3) > 1e-9 || e.BestScore != 0.97 || e.BestBox == nil || e.BestBox.Score != 0.97 || e.BestBox.TrackID != 4 {
		t.Fatalf("end event duration %v best %v %+v", e.Duration, e.BestScore, e.BestBox)
	}
}

func TestOrderAcrossTracks(t *testing.T) {
	a := New("cam", Config{Zones: []Zone{{Name: "z", Polygon: square}}})
	a.Update(t0, 0, track.Update{Tracks: []track.Track{
		tracked(1, "person", 200, 200, 0, true), tracked(3, "person", 600, 600, 0, true),
	}})
	evs := a.Update(t0.Add(step), 1, track.Update{
		Tracks: []track.Track{tracked(1, "person", 400, 200, 1, true), tracked(2, "person", 200, 200, 1, true)},
		Ended:  []track.Track{tracked(3, "person", 600, 600, 0, false)},
	})
	var got []string
	for _, e := range evs {
		got = append(got, describe(1, e)+" "+string(rune('0'+e.TrackID)))
	}
	want := []string{"1 new 2", "1 enter z 2", "1 exit z 1", "1 end 3"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestVanishedTrackEnds(t *testing.T) {
	a := New("cam", Config{Zones: []Zone{{Name: "z", Polygon: square}}})
	a.Update(t0, 0, track.Update{Tracks: []track.Track{tracked(1, "person", 200, 200, 0, true)}})
	got := run(a, []track.Update{{}})
	if want := []string{"0 exit z", "0 end"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if n := len(a.tracks); n != 0 {
		t.Fatalf("%d track states kept", n)
	}
}

func TestCounts(t *testing.T) {
	a := New("cam", Config{
		Zones: []Zone{{Name: "listed", Polygon: square, Labels: []string{"person", "car"}}, {Name: "any", Polygon: square}},
		Lines: []Line{{Name: "l", From: [2]float64{0, 500}, To: [2]float64{1000, 500}}},
	})
	c := a.Counts()
	if c.Objects == nil || len(c.Objects) != 0 || len(c.Zones["listed"]) != 2 || c.Zones["any"] == nil || len(c.Zones["any"]) != 0 {
		t.Fatalf("initial counts %+v", c)
	}
	a.Update(t0, 0, track.Update{Tracks: []track.Track{
		tracked(1, "person", 200, 200, 0, true), tracked(2, "person", 600, 600, 0, true), tracked(3, "dog", 200, 200, 0, true),
	}})
	a.Update(t0.Add(step), 1, track.Update{Tracks: []track.Track{
		tracked(1, "person", 200, 400, 1, true), tracked(2, "person", 600, 600, 1, false), tracked(3, "dog", 210, 200, 1, true),
	}})
	c = a.Counts()
	want := media.Counts{
		Objects: map[string]int{"person": 2, "dog": 1},
		Zones:   map[string]map[string]int{"listed": {"person": 0, "car": 0}, "any": {"dog": 1}},
		Lines:   map[string]media.LineCount{"l": {}},
	}
	if !equalCounts(c, want) {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
	// A deep copy: changing it changes nothing inside.
	c.Objects["person"] = 99
	c.Zones["any"]["dog"] = 99
	c.Lines["l"] = media.LineCount{In: 5}
	if again := a.Counts(); !equalCounts(again, want) {
		t.Fatalf("counts changed through a copy: %+v", again)
	}
}

func equalCounts(a, b media.Counts) bool {
	if len(a.Zones) != len(b.Zones) {
		return false
	}
	for k, v := range a.Zones {
		if !mapsEqual(v, b.Zones[k]) {
			return false
		}
	}
	return mapsEqual(a.Objects, b.Objects) && mapsEqual(a.Lines, b.Lines)
}

func mapsEqual[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestValidate(t *testing.T) {
	zone := func(mod func(*Zone)) Config {
		z := Zone{Name: "door", Polygon: square}
		mod(&z)
		return Config{Zones: []Zone{{Name: "first", Polygon: square}, z}}
	}
	ln := func(mod func(*Line)) Config {
		l := Line{Name: "gate", From: [2]float64{0, 0}, To: [2]float64{10, 0}}
		mod(&l)
		return Config{Zones: []Zone{{Name: "first", Polygon: square}}, Lines: []Line{l}}
	}
	nan := math.NaN()
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"empty", Config{}, ""},
		{"zone and line", zone(func(*Zone) {}), ""},
		{"defaults", zone(func(*Zone) {}).WithDefaults(), ""},
		{"too many zones", Config{Zones: make([]Zone, 65)}, "zones"},
		{"too many lines", Config{Lines: make([]Line, 65)}, "lines"},
		{"negative update every", Config{UpdateEvery: -1}, "update_every"},
		{"bad name", zone(func(z *Zone) { z.Name = "front door" }), "zones[1].name"},
		{"long name", zone(func(z *Zone) { z.Name = strings.Repeat("a", 65) }), "zones[1].name"},
		{"reserved name", zone(func(z *Zone) { z.Name = "all" }), "zones[1].name"},
		{"duplicate zone", zone(func(z *Zone) { z.Name = "first" }), "zones[1].name"},
		{"line named like a zone", ln(func(l *Line) { l.Name = "first" }), "lines[0].name"},
		{"two points", zone(func(z *Zone) { z.Polygon = square[:2] }), "zones[1].polygon"},
		{"too many points", zone(func(z *Zone) { z.Polygon = make([][2]float64, 257) }), "zones[1].polygon"},
		{"NaN point", zone(func(z *Zone) { z.Polygon = [][2]float64{{0, 0}, {nan, 1}, {1, 1}} }), "zones[1].polygon"},
		{"far point", zone(func(z *Zone) { z.Polygon = [][2]float64{{0, 0}, {100001, 1}, {1, 1}} }), "zones[1].polygon"},
		{"flat polygon", zone(func(z *Zone) { z.Polygon = [][2]float64{{0, 0}, {1, 1}, {2, 2}} }), "zones[1].polygon"},
		{"min frames negative", zone(func(z *Zone) { z.MinFrames = -1 }), "zones[1].min_frames"},
		{"min frames too many", zone(func(z *Zone) { z.MinFrames = 1001 }), "zones[1].min_frames"},
		{"empty label", zone(func(z *Zone) { z.Labels = []string{"person", ""} }), "zones[1].labels"},
		{"line from infinite", ln(func(l *Line) { l.From[0] = math.Inf(1) }), "lines[0].from"},
		{"line to far", ln(func(l *Line) { l.To[1] = -100001 }), "lines[0].to"},
		{"line of one point", ln(func(l *Line) { l.To = l.From }), "lines[0].to"},
		{"line empty label", ln(func(l *Line) { l.Labels = []string{""} }), "lines[0].labels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			var ce *ConfigError
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.field != "" && (!errors.As(err, &ce) || ce.Field != c.field):
				t.Fatalf("error %v, want field %q", err, c.field)
			}
		})
	}
}

func TestWithDefaultsLeavesCallerAlone(t *testing.T) {
	zones := []Zone{{Name: "z", Polygon: square}}
	c := Config{Zones: zones}.WithDefaults()
	if zones[0].MinFrames != 0 || c.Zones[0].MinFrames != 1 || c.UpdateEvery != time.Second {
		t.Fatalf("caller %d, defaults %d, every %v", zones[0].MinFrames, c.Zones[0].MinFrames, c.UpdateEvery)
	}
}

package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/internal/testmedia"
	"github.com/visiongate/visiongate/media"
)

// sse is what an SSE window delivered: results and typed object events.
type sse struct {
	results []media.Detections
	objects []media.Event
}

// readEvents collects a source's SSE stream for d: "detections" events
// as results, every other event type as object, zone and line events.
func readEvents(ctx context.Context, url string, d time.Duration) (sse, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sse{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		return sse{}, fmt.Errorf("events: %d %s", resp.StatusCode, b)
	}
	var out sse
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	kind := ""
	for sc.Scan() {
		if k, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			kind = k
			continue
		}
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if err := out.add(kind, data); err != nil {
			return out, err
		}
	}
	return out, nil // the window ended
}

func (s *sse) add(kind, data string) error {
	if kind == "detections" {
		var det media.Detections
		if err := json.Unmarshal([]byte(data), &det); err != nil {
			return fmt.Errorf("result %q: %w", data, err)
		}
		s.results = append(s.results, det)
		return nil
	}
	var ev media.Event
	if err := json.Unmarshal([]byte(data), &ev); err != nil || ev.Type != kind {
		return fmt.Errorf("%s event %q: %v", kind, data, err)
	}
	s.objects = append(s.objects, ev)
	return nil
}

// People detection on OpenCV's pedestrian clip: events stream, the latest
// result has persons in source pixels, and the video keeps its frame rate
// (encoded for nobody: on_demand false).
func TestPeopleDetectionThroughGateway(t *testing.T) {
	clip := testmedia.OpenCVSample(t, "vtest.avi")
	g := startGateway(t, fmt.Sprintf("allow_local_sources: true\nsources:\n  - name: walk\n    url: file://%s\n    on_demand: false\n    vision: {detector: people, fps: 5, lines: [{name: mid, from: [384, 0], to: [384, 576]}]}\n", clip))
	g.waitRunning("walk", 10*time.Second)
	got, err := readEvents(t.Context(), g.base+"/api/v1/sources/walk/events", 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	events := got.results
	persons := 0
	for _, e := range events {
		if e.Width != 768 || e.Height != 576 || e.Detector != "people" {
			t.Fatalf("event %+v", e)
		}
		for _, b := range e.Boxes {
			if b.Label == "person" && b.X >= 0 && b.X+b.W <= 768 && b.Y+b.H <= 576 && b.TrackID > 0 {
				persons++
			}
		}
	}
	news := 0
	for _, ev := range got.objects {
		if ev.Type == media.EventNew && ev.TrackID > 0 && ev.Label == "person" && ev.Source == "walk" {
			news++
		}
	}
	t.Logf("%d results, %d tracked person boxes, %d object events (%d new) in 4 s", len(events), persons, len(got.objects), news)
	if len(events) < 5 || persons == 0 || news == 0 {
		t.Errorf("%d results with %d tracked persons and %d new-object events, want ≥ 5 results (5/s asked), tracked persons and new objects",
			len(events), persons, news)
	}
	code, body := g.do("GET", "/api/v1/sources/walk/detections", "")
	var latest media.Detections
	if code != 200 || json.Unmarshal(body, &latest) != nil || latest.Source != "walk" {
		t.Errorf("detections = %d %s", code, body)
	}
	st := g.waitRunning("walk", time.Second)
	if st.Vision == nil || st.Vision.Detector != "people" || st.FPSOut < 8 || st.Vision.Counts == nil {
		t.Fatalf("status: vision %+v, fps_out %.1f (clip is 10 fps)", st.Vision, st.FPSOut)
	}
	if _, ok := st.Vision.Counts.Lines["mid"]; !ok {
		t.Errorf("status counts %+v have no line mid", st.Vision.Counts)
	}
	if code, m := g.do("GET", "/metrics", ""); code != 200 ||
		!strings.Contains(string(m), `visiongate_line_crossings_total{direction="in",line="mid",source="walk"}`) {
		t.Errorf("metrics = %d without the line's crossings", code)
	}
	r, err := testcam.Read(g.rtspURL("walk"), "tcp", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkReading(t, r, 768, 576, 10, 3*time.Second)
}

// PATCH swaps the detector in place: the new detector's results come
// (faces, on footage with faces), the pipeline is not restarted, and the
// video keeps flowing.
func TestPatchDetectorKeepsVideo(t *testing.T) {
	clip := testmedia.OpenCVSample(t, "Megamind.avi")
	g := startGateway(t, fmt.Sprintf("allow_local_sources: true\nsources:\n  - name: v\n    url: file://%s\n    vision: {detector: motion}\n", clip))
	g.waitRunning("v", 10*time.Second)
	before := g.waitRunning("v", time.Second)
	if before.Vision == nil || before.Vision.Detector != "motion" {
		t.Fatalf("before PATCH: vision %+v, want motion", before.Vision)
	}
	code, b := g.do("PATCH", "/api/v1/sources/v", `{"vision":{"detector":"faces","fps":5}}`)
	if code != 200 {
		t.Fatalf("PATCH = %d %s", code, b)
	}
	// Only the new detector can produce a "faces" result with face boxes.
	deadline := time.Now().Add(20 * time.Second)
	var latest media.Detections
	for !hasFace(latest) {
		if time.Now().After(deadline) {
			t.Fatalf("no face detected within 20 s of the PATCH; latest result: detector %q, boxes %s",
				latest.Detector, boxLabels(latest))
		}
		time.Sleep(100 * time.Millisecond)
		code, body := g.do("GET", "/api/v1/sources/v/detections", "")
		latest = media.Detections{}
		if code == 200 {
			if err := json.Unmarshal(body, &latest); err != nil {
				t.Fatalf("detections: %v: %s", err, body)
			}
		}
	}
	after := g.waitRunning("v", time.Second)
	if after.Vision == nil || after.Vision.Detector != "faces" || after.Attempts != before.Attempts {
		t.Errorf("after PATCH: vision %+v, attempts %d (before %d): want faces, no restart",
			after.Vision, after.Attempts, before.Attempts)
	}
	if after.FramesIn <= before.FramesIn {
		t.Errorf("frames in %d after PATCH, %d before", after.FramesIn, before.FramesIn)
	}
	g.waitFramesAfter("v", after.FramesIn, 5*time.Second)
	if st, _ := g.Manager().Get("v"); st.Attempts != before.Attempts {
		t.Errorf("pipeline restarted (attempts %d, before %d)", st.Attempts, before.Attempts)
	}
	for body, want := range map[string]int{`{"vision":{"detector":"telepathy"}}`: 400, `{"vision":{"fps":-3}}`: 400} {
		if code, b := g.do("PATCH", "/api/v1/sources/v", body); code != want {
			t.Errorf("PATCH %s = %d %s, want %d", body, code, b, want)
		}
	}
	if code, _ := g.do("GET", "/api/v1/sources/nope/events", ""); code != 404 {
		t.Errorf("events of unknown source = %d", code)
	}
}

// hasFace reports whether d is a result of the faces detector with a face.
func hasFace(d media.Detections) bool {
	if d.Detector != "faces" {
		return false
	}
	for _, b := range d.Boxes {
		if b.Label == "face" {
			return true
		}
	}
	return false
}

func boxLabels(d media.Detections) string {
	labels := make([]string, len(d.Boxes))
	for i, b := range d.Boxes {
		labels[i] = b.Label
	}
	return fmt.Sprint(labels)
}

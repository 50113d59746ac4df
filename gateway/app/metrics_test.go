package app

import (
	"strings"
	"testing"
	"time"
)

// /metrics is Prometheus text with per-source figures and timings.
func TestMetrics(t *testing.T) {
	g := startGateway(t, "allow_local_sources: true\nsources:\n  - name: m\n    url: \"lavfi:testsrc2=size=160x120:rate=25\"\n"+
		"    vision: {detector: motion}\n")
	g.waitRunning("m", 10*time.Second)
	g.waitFramesAfter("m", 30, 10*time.Second)
	code, body := g.do("GET", "/metrics", "")
	text := string(body)
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`visiongate_source_state{source="m",state="running"} 1`,
		`visiongate_source_frames_out_total{source="m"}`,
		`visiongate_source_readers{protocol="rtsp",source="m"} 0`,
		`visiongate_source_decoder_running{source="m"} 1`, // for motion
		`visiongate_source_encoder_running{source="m"} 0`, // nobody watches
		`visiongate_encode_seconds_count{source="m"}`,
		`visiongate_pipeline_latency_seconds_bucket{source="m",le=`,
		`visiongate_vision_detections_per_second{source="m"}`,
		"process_resident_memory_bytes", "go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := g.do("DELETE", "/api/v1/sources/m", ""); code != 204 {
		t.Fatal("delete failed")
	}
	_, body = g.do("GET", "/metrics", "")
	if strings.Contains(string(body), `source="m"`) {
		t.Error("a removed source's series remain")
	}
}

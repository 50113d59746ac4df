package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/visiongate/visiongate/gateway/api"
	"github.com/visiongate/visiongate/media"
)

var states = []string{api.StateStarting, api.StateRunning, api.StateRetrying,
	api.StateFailed, api.StateStopped}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("visiongate_"+name, help, append([]string{"source"}, labels...), nil)
}

var (
	stateDesc     = desc("source_state", "1 for the state the source is in.", "state")
	framesInDesc  = desc("source_frames_in_total", "Frames received from the source.")
	framesOutDesc = desc("source_frames_out_total", "Frames encoded and published.")
	fpsDesc       = desc("source_output_fps", "Output frames per second over the last second.")
	reconnectDesc = desc("source_reconnects_total", "Connection attempts after the first.")
	readersDesc   = desc("source_readers", "Readers by protocol.", "protocol")
	hwDecodeDesc  = desc("source_hardware_decode", "1 when the source decodes in hardware.")
	decodingDesc  = desc("source_decoder_running", "1 while frames are decoded (on demand: someone needs pictures).")
	encodingDesc  = desc("source_encoder_running", "1 while the encoder runs (on demand: someone watches).")
	encStartsDesc = desc("source_encoder_starts_total", "Encoder openings: one per period with readers.")
	detRateDesc   = desc("vision_detections_per_second", "Detection results per second.")
	detLatDesc    = desc("vision_latency_seconds", "Average time from a sampled frame to its result.")
	boxAgeDesc    = desc("vision_box_age_seconds", "Age of the boxes being drawn.")
	skippedDesc   = desc("vision_skipped_busy_total", "Frames due for detection skipped: one was in flight.")
	droppedDesc   = desc("vision_events_dropped_total", "Detection events a slow subscriber lost.")
	objectsDesc   = desc("objects", "Tracked objects visible now, by label.", "label")
	zoneDesc      = desc("zone_objects", "Tracked objects inside a zone now, by label.", "zone", "label")
	crossingsDesc = desc("line_crossings_total", "Objects that crossed a line, by direction.", "line", "direction")
	detErrorsDesc = desc("vision_errors_total", "Detections that failed (model load or run).")
	sourcesDesc   = prometheus.NewDesc("visiongate_sources", "Sources configured.", nil, nil)
)

// sourceCollector turns the manager's status snapshots into metrics at
// scrape time, so the video path keeps no extra counters.
type sourceCollector struct{ src Sources }

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	list := c.src.List()
	ch <- prometheus.MustNewConstMetric(sourcesDesc, prometheus.GaugeValue, float64(len(list)))
	for _, st := range list {
		collectSource(ch, st)
	}
}

func collectSource(ch chan<- prometheus.Metric, st api.Status) {
	n := st.Name
	for _, s := range states {
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, boolf(st.State == s), n, s)
	}
	ch <- prometheus.MustNewConstMetric(framesInDesc, prometheus.CounterValue, float64(st.FramesIn), n)
	ch <- prometheus.MustNewConstMetric(framesOutDesc, prometheus.CounterValue, float64(st.FramesOut), n)
	ch <- prometheus.MustNewConstMetric(fpsDesc, prometheus.GaugeValue, st.FPSOut, n)
	ch <- prometheus.MustNewConstMetric(reconnectDesc, prometheus.CounterValue, float64(max(st.Attempts-1, 0)), n)
	ch <- prometheus.MustNewConstMetric(hwDecodeDesc, prometheus.GaugeValue, boolf(st.Decoder.Hardware), n)
	ch <- prometheus.MustNewConstMetric(decodingDesc, prometheus.GaugeValue, boolf(st.Decoder.Running), n)
	ch <- prometheus.MustNewConstMetric(encodingDesc, prometheus.GaugeValue, boolf(st.Encoder.Running), n)
	ch <- prometheus.MustNewConstMetric(encStartsDesc, prometheus.CounterValue, float64(st.Encoder.Starts), n)
	for proto, count := range st.Readers {
		ch <- prometheus.MustNewConstMetric(readersDesc, prometheus.GaugeValue, float64(count), n, proto)
	}
	if v := st.Vision; v != nil {
		ch <- prometheus.MustNewConstMetric(detRateDesc, prometheus.GaugeValue, v.DetectionsPerSec, n)
		ch <- prometheus.MustNewConstMetric(detLatDesc, prometheus.GaugeValue, v.LatencyMS/1000, n)
		ch <- prometheus.MustNewConstMetric(boxAgeDesc, prometheus.GaugeValue, v.BoxAgeMS/1000, n)
		ch <- prometheus.MustNewConstMetric(skippedDesc, prometheus.CounterValue, float64(v.SkippedBusy), n)
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(v.EventsDropped), n)
		ch <- prometheus.MustNewConstMetric(detErrorsDesc, prometheus.CounterValue, float64(v.Errors), n)
		collectCounts(ch, n, v.Counts)
	}
}

// collectCounts exports the tracker's tally: objects, zones and lines.
func collectCounts(ch chan<- prometheus.Metric, n string, c *media.Counts) {
	if c == nil {
		return
	}
	for label, k := range c.Objects {
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(k), n, label)
	}
	for zone, labels := range c.Zones {
		for label, k := range labels {
			ch <- prometheus.MustNewConstMetric(zoneDesc, prometheus.GaugeValue, float64(k), n, zone, label)
		}
	}
	for line, lc := range c.Lines {
		ch <- prometheus.MustNewConstMetric(crossingsDesc, prometheus.CounterValue, float64(lc.In), n, line, media.DirectionIn)
		ch <- prometheus.MustNewConstMetric(crossingsDesc, prometheus.CounterValue, float64(lc.Out), n, line, media.DirectionOut)
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

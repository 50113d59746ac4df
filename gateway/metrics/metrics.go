// Package metrics exposes visiongate in Prometheus text format: per-source
// state, frame counters, rates, readers and vision figures read from the
// manager at scrape time, per-frame timing histograms fed by the
// pipelines, and the process (CPU, RSS, goroutines).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/visiongate/visiongate/gateway/api"
)

// Sources is what the scrape reads: every source's status.
type Sources interface {
	List() []api.Status
}

// Registry holds visiongate's metrics.
type Registry struct {
	reg                            *prometheus.Registry
	decode, stage, encode, latency *prometheus.HistogramVec
}

// frameBuckets cover per-frame work from 0.1 ms to 1 s.
var frameBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 12)

// New registers the process, Go runtime and source collectors. src may
// be set later with SetSources (the manager needs the observers first).
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	hist := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "visiongate", Name: name, Help: help, Buckets: frameBuckets,
		}, []string{"source"})
	}
	r.decode = hist("decode_seconds", "Time to decode one packet.")
	r.stage = hist("annotate_seconds", "Time of the vision stage (sampling and drawing) per frame.")
	r.encode = hist("encode_seconds", "Time to encode one frame.")
	r.latency = hist("pipeline_latency_seconds", "From an input packet read to its encoded frame on the hub.")
	r.reg.MustRegister(r.decode, r.stage, r.encode, r.latency,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector())
	return r
}

// SetSources starts reporting the sources' status at every scrape.
func (r *Registry) SetSources(src Sources) {
	r.reg.MustRegister(&sourceCollector{src: src})
}

// MQTTStats is the broker connection's state for the metrics.
type MQTTStats struct {
	Connected          bool
	Published, Dropped uint64
}

// SetMQTT reports the MQTT publisher at every scrape.
func (r *Registry) SetMQTT(stats func() MQTTStats) {
	gauge := func(name, help string, kind prometheus.ValueType, v func(MQTTStats) float64) prometheus.Collector {
		d := prometheus.NewDesc("visiongate_mqtt_"+name, help, nil, nil)
		return funcCollector{d, func() prometheus.Metric {
			return prometheus.MustNewConstMetric(d, kind, v(stats()))
		}}
	}
	r.reg.MustRegister(
		gauge("connected", "1 while connected to the broker.", prometheus.GaugeValue,
			func(s MQTTStats) float64 { return boolf(s.Connected) }),
		gauge("published_total", "Messages sent to the broker.", prometheus.CounterValue,
			func(s MQTTStats) float64 { return float64(s.Published) }),
		gauge("dropped_total", "Event messages dropped (broker down or slow).", prometheus.CounterValue,
			func(s MQTTStats) float64 { return float64(s.Dropped) }))
}

// funcCollector reports one metric computed at scrape time.
type funcCollector struct {
	desc   *prometheus.Desc
	metric func() prometheus.Metric
}

func (c funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c funcCollector) Collect(ch chan<- prometheus.Metric) { ch <- c.metric() }

// Handler serves the text exposition.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Observer returns the histograms of one source for its pipeline.
func (r *Registry) Observer(source string) api.PipelineObserver {
	return observer{
		decode: r.decode.WithLabelValues(source), stage: r.stage.WithLabelValues(source),
		encode: r.encode.WithLabelValues(source), latency: r.latency.WithLabelValues(source),
	}
}

// Forget drops a removed source's series.
func (r *Registry) Forget(source string) {
	for _, h := range []*prometheus.HistogramVec{r.decode, r.stage, r.encode, r.latency} {
		h.DeleteLabelValues(source)
	}
}

type observer struct{ decode, stage, encode, latency prometheus.Observer }

func (o observer) Decode(d time.Duration)  { o.decode.Observe(d.Seconds()) }
func (o observer) Stage(d time.Duration)   { o.stage.Observe(d.Seconds()) }
func (o observer) Encode(d time.Duration)  { o.encode.Observe(d.Seconds()) }
func (o observer) Latency(d time.Duration) { o.latency.Observe(d.Seconds()) }

package app

import (
	"fmt"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/metrics"
	"github.com/visiongate/visiongate/gateway/mqtt"
	"github.com/visiongate/visiongate/gateway/pipeline"
	"github.com/visiongate/visiongate/vision"
)

// resultBuffer is how many detection results may wait for the MQTT
// publisher before the oldest are dropped (Publish itself never blocks).
const resultBuffer = 256

// mqttSink forwards every source's results to the broker.
type mqttSink struct {
	pub     *mqtt.Publisher
	done    chan struct{}
	started bool // forward ran: done will close
}

// startMQTT connects to the configured broker (in the background) and
// forwards the vision pool's results to it; nil without a broker.
func (a *App) startMQTT(c config.MQTT) (*mqttSink, error) {
	if c.URL == "" {
		return nil, nil
	}
	pub, err := mqtt.Start(mqtt.Options{URL: c.URL, Username: c.Username, Password: c.Password,
		TopicPrefix: c.TopicPrefix, ClientID: c.ClientID, DiscoveryPrefix: c.DiscoveryPrefix, Log: a.log})
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	s := &mqttSink{pub: pub, done: make(chan struct{})}
	a.metrics.SetMQTT(func() metrics.MQTTStats {
		st := pub.Stats()
		return metrics.MQTTStats{Connected: st.Connected, Published: st.Published, Dropped: st.Dropped}
	})
	return s, nil
}

// forward sends every result of a source that still exists to the broker
// (a late result of a removed source would bring its retained sensors
// back). It ends when the pool closes.
func (s *mqttSink) forward(pool *vision.Pool, exists func(name string) bool) {
	if s == nil {
		return
	}
	results, _ := pool.Subscribe(resultBuffer)
	s.started = true
	go func() {
		defer close(s.done)
		for d := range results {
			if exists(d.Source) {
				s.pub.Publish(d)
			}
		}
	}()
}

// close waits for the forwarder (the pool is closed first) and says
// offline.
func (s *mqttSink) close() {
	if s == nil {
		return
	}
	if s.started {
		<-s.done
	}
	_ = s.pub.Close()
}

func (s *mqttSink) forget(name string) {
	if s != nil {
		s.pub.Forget(name)
	}
}

// sourceSinks tells the metrics and the broker about removed sources.
type sourceSinks struct {
	metrics *metrics.Registry
	mqtt    *mqttSink
}

func (s sourceSinks) Observer(name string) pipeline.Observer { return s.metrics.Observer(name) }

func (s sourceSinks) Forget(name string) {
	s.metrics.Forget(name)
	s.mqtt.forget(name)
}

package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testcam"
	"github.com/visiongate/visiongate/internal/testmedia"
	"github.com/visiongate/visiongate/internal/testmqtt"
	"github.com/visiongate/visiongate/media"
)

// trackedEvents returns the object events with a track id on topic.
func trackedEvents(msgs []testmqtt.Message, topic string) []media.Event {
	var out []media.Event
	for _, m := range msgs {
		var e media.Event
		if m.Topic == topic && json.Unmarshal([]byte(m.Payload), &e) == nil && e.TrackID > 0 {
			out = append(out, e)
		}
	}
	return out
}

// People on vtest.avi, tracked, reach a real mosquitto: availability,
// events with ids, retained counts and Home Assistant discovery. With the
// broker stopped the video keeps its rate; when it returns, publishing
// resumes and the retained state is there again.
func TestEventsReachMQTTAndSurviveBrokerOutage(t *testing.T) {
	broker := testmqtt.StartBroker(t)
	sub := testmqtt.Subscribe(t, broker.URL(), "#")
	clip := testmedia.OpenCVSample(t, "vtest.avi")
	g := startGateway(t, fmt.Sprintf("allow_local_sources: true\nmqtt: {url: %q}\nsources:\n  - name: walk\n    url: file://%s\n    vision: {detector: people, fps: 5}\n", broker.URL(), clip))
	g.waitRunning("walk", 10*time.Second)
	const events, count = "visiongate/walk/events", "visiongate/walk/all/person"
	msgs, err := sub.WaitFor(func(m []testmqtt.Message) bool {
		on, _ := testmqtt.Last(m, "visiongate/availability")
		_, counted := testmqtt.Last(m, count)
		return on.Payload == "online" && counted && len(trackedEvents(m, events)) > 0 && discovery(m, count) != ""
	}, 15*time.Second)
	if err != nil {
		t.Fatalf("%v; got %v", err, msgs)
	}
	t.Logf("discovery: %s", discovery(msgs, count))

	broker.Stop()
	r, err := testcam.Read(g.rtspURL("walk"), "tcp", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkReading(t, r, 768, 576, 10, 3*time.Second) // the video does not wait for the broker

	broker.Start()
	again := testmqtt.Subscribe(t, broker.URL(), "#")
	msgs, err = again.WaitFor(func(m []testmqtt.Message) bool {
		on, _ := testmqtt.Last(m, "visiongate/availability")
		c, _ := testmqtt.Last(m, count)
		return on.Payload == "online" && c.Payload != "" && len(trackedEvents(m, events)) > 0 && discovery(m, count) != ""
	}, 15*time.Second)
	if err != nil {
		t.Fatalf("after the broker came back: %v; got %v", err, msgs)
	}
	// The broker kept nothing across its restart: what a new subscriber
	// gets retained now was published again.
	fresh := testmqtt.Subscribe(t, broker.URL(), "#")
	if msgs, err := fresh.WaitFor(func(m []testmqtt.Message) bool {
		on, _ := testmqtt.Last(m, "visiongate/availability")
		c, _ := testmqtt.Last(m, count)
		return on.Retained && on.Payload == "online" && c.Retained && discovery(m, count) != ""
	}, 5*time.Second); err != nil {
		t.Fatalf("retained state after the restart: %v; got %v", err, msgs)
	}
}

// discovery returns the Home Assistant config whose state topic is topic.
func discovery(msgs []testmqtt.Message, topic string) string {
	for _, m := range msgs {
		if strings.HasPrefix(m.Topic, "homeassistant/sensor/") && strings.HasSuffix(m.Topic, "/config") &&
			strings.Contains(m.Payload, `"state_topic":"`+topic+`"`) {
			return m.Payload
		}
	}
	return ""
}

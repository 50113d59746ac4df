package mqtt

import (
	"encoding/json"
	"testing"

	"github.com/visiongate/visiongate/media"
)

func testTopics() topics {
	return newTopics(Options{URL: "tcp://x"}.withDefaults())
}

// retained returns the payload of every topic the state holds.
func (s *state) retained() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.entries))
	for t, e := range s.entries {
		out[t] = string(e.payload)
	}
	return out
}

// sendAll plays the sender: everything dirty reaches the broker.
func sendAll(s *state) []pending {
	d := s.dirty()
	for _, p := range d {
		s.sent(p)
	}
	return d
}

func TestStateCounts(t *testing.T) {
	s := newState(testTopics())
	sendAll(s)
	c := &media.Counts{
		Objects: map[string]int{"person": 2, "traffic light": 1},
		Zones:   map[string]map[string]int{"front door": {"person": 1}},
	}
	if !s.setCounts("cam 1", c) {
		t.Fatal("first counts reported no change")
	}
	d := sendAll(s)
	want := map[string]string{
		"visiongate/cam_1/all/person":        "2",
		"visiongate/cam_1/all/traffic_light": "1",
		"visiongate/cam_1/front_door/person": "1",
	}
	got := s.retained()
	for topic, v := range want {
		if got[topic] != v {
			t.Errorf("%s = %q, want %q", topic, got[topic], v)
		}
	}
	if len(d) != 6 || d[0].kind != kindDiscovery || d[5].kind != kindCount {
		t.Errorf("sent %d entries (%v first), want 3 discovery configs then 3 counts", len(d), d[0].kind)
	}
	if s.setCounts("cam 1", c) || len(s.dirty()) != 0 {
		t.Error("unchanged counts were scheduled again")
	}
	// The traffic light and the zone's person leave: they count 0.
	s.setCounts("cam 1", &media.Counts{Objects: map[string]int{"person": 3}})
	d = sendAll(s)
	got = s.retained()
	if got["visiongate/cam_1/all/traffic_light"] != "0" || got["visiongate/cam_1/front_door/person"] != "0" ||
		got["visiongate/cam_1/all/person"] != "3" || len(d) != 3 {
		t.Errorf("after labels left: sent %d, state %v", len(d), got)
	}
}

func TestStateDiscoveryConfig(t *testing.T) {
	s := newState(testTopics())
	s.setCounts("cam1", &media.Counts{Zones: map[string]map[string]int{"door": {"person": 1}}})
	raw := s.retained()["homeassistant/sensor/visiongate/cam1_door_person/config"]
	var c haSensor
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("discovery config %q: %v", raw, err)
	}
	if c.Name != "cam1 door person" || c.UniqueID != "visiongate_cam1_door_person" ||
		c.StateTopic != "visiongate/cam1/door/person" || c.AvailabilityTopic != "visiongate/availability" ||
		c.Device.Identifiers[0] != "visiongate_cam1" || c.Unit != "objects" || c.StateClass != "measurement" {
		t.Errorf("discovery config: %+v", c)
	}
}

func TestStateForget(t *testing.T) {
	s := newState(testTopics())
	s.setCounts("cam1", &media.Counts{Objects: map[string]int{"person": 1}})
	s.setCounts("cam2", &media.Counts{Objects: map[string]int{"person": 1}})
	sendAll(s)
	if !s.forget("cam1") || s.forget("nope") {
		t.Fatal("forget reported the wrong change")
	}
	d := sendAll(s)
	if len(d) != 2 || len(d[0].payload) != 0 || len(d[1].payload) != 0 {
		t.Fatalf("forget sent %+v, want two empty payloads", d)
	}
	got := s.retained()
	if _, ok := got["visiongate/cam1/all/person"]; ok {
		t.Error("cleared count still held after it was sent")
	}
	if got["visiongate/cam2/all/person"] != "1" {
		t.Error("forget touched another source")
	}
}

// A value sent while it changed, or before a reconnection, stays dirty.
func TestStateSentIsVersioned(t *testing.T) {
	s := newState(testTopics())
	s.setCounts("cam1", &media.Counts{Objects: map[string]int{"person": 1}})
	old := s.dirty()
	s.setCounts("cam1", &media.Counts{Objects: map[string]int{"person": 2}})
	for _, p := range old {
		s.sent(p)
	}
	if d := s.dirty(); len(d) != 1 || string(d[0].payload) != "2" {
		t.Fatalf("after a stale send, dirty = %+v, want the count 2", d)
	}
	d := s.dirty()
	s.markAllDirty() // a reconnection between the send and its ack
	for _, p := range d {
		s.sent(p)
	}
	if n := len(s.dirty()); n != 3 {
		t.Fatalf("after reconnection, %d dirty entries, want all 3", n)
	}
}

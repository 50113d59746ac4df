package mqtt

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/visiongate/visiongate/internal/testmqtt"
	"github.com/visiongate/visiongate/media"
)

const avail = "visiongate/availability"

func TestAvailabilityOnlineThenOfflineOnClose(t *testing.T) {
	b := testmqtt.StartBroker(t)
	live := testmqtt.Subscribe(t, b.URL(), avail)
	p := start(t, Options{URL: b.URL()})
	waitFor(t, live, "online", has(avail, "online", false))
	retained := testmqtt.Subscribe(t, b.URL(), avail)
	waitFor(t, retained, "retained online", has(avail, "online", true))

	t0 := time.Now()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(t0); d > closeTimeout {
		t.Errorf("Close took %v, want <= %v", d, closeTimeout)
	}
	waitFor(t, live, "offline", has(avail, "offline", false))
	fresh := testmqtt.Subscribe(t, b.URL(), avail)
	waitFor(t, fresh, "retained offline", has(avail, "offline", true))
	if s := p.Stats(); s.Connected {
		t.Errorf("still connected after Close: %+v", s)
	}
}

// A connection that dies without DISCONNECT (a crash, a cut cable) makes
// the broker publish the will; the publisher then comes back online.
func TestWillOnAbruptDisconnect(t *testing.T) {
	b := testmqtt.StartBroker(t)
	p := start(t, Options{URL: b.URL()})
	waitConnected(t, p)
	sub := testmqtt.Subscribe(t, b.URL(), avail)
	waitFor(t, sub, "online", has(avail, "online", false)) // retained or live

	p.conn.cut()
	waitFor(t, sub, "the will, then online again", func(msgs []testmqtt.Message) bool {
		offline := false
		for _, m := range msgs {
			offline = offline || m.Payload == "offline" && !m.Retained
			if offline && m.Payload == "online" {
				return true
			}
		}
		return false
	})
}

func TestEventsCountsAndDiscovery(t *testing.T) {
	b := testmqtt.StartBroker(t)
	p := start(t, Options{URL: b.URL()})
	waitConnected(t, p)
	live := testmqtt.Subscribe(t, b.URL(), "#")

	counts := &media.Counts{
		Objects: map[string]int{"person": 2, "car": 1},
		Zones:   map[string]map[string]int{"front door": {"person": 1}},
	}
	p.Publish(detections("cam1", counts, 7, 8))
	msgs := waitFor(t, live, "events and counts", all(countEvents("visiongate/cam1/events", 2),
		has("visiongate/cam1/all/person", "2", false), has("visiongate/cam1/all/car", "1", false),
		has("visiongate/cam1/front_door/person", "1", false)))
	evs := events(t, msgs, "visiongate/cam1/events")
	if evs[0].TrackID != 7 || evs[1].TrackID != 8 || evs[0].Type != media.EventNew || evs[0].Box.W != 3 {
		t.Errorf("events = %+v, want new tracks 7 and 8 in order", evs)
	}

	p.Publish(detections("cam1", objects("person", 1))) // the car and the zone's person leave
	waitFor(t, live, "zero counts", all(has("visiongate/cam1/all/car", "0", false),
		has("visiongate/cam1/front_door/person", "0", false), has("visiongate/cam1/all/person", "1", false)))

	fresh := testmqtt.Subscribe(t, b.URL(), "#")
	cfgTopic := "homeassistant/sensor/visiongate/cam1_front_door_person/config"
	msgs = waitFor(t, fresh, "retained state", all(has("visiongate/cam1/all/person", "1", true),
		has("visiongate/cam1/all/car", "0", true), countRetained(cfgTopic)))
	checkDiscovery(t, msgs, cfgTopic, "cam1 front door person", "visiongate/cam1/front_door/person")
	if s := p.Stats(); s.Published < 10 || s.Dropped != 0 || !s.Connected {
		t.Errorf("stats = %+v, want >= 10 published and none dropped", s)
	}
}

// countRetained: the last message on topic is a retained, non-empty one.
func countRetained(topic string) func([]testmqtt.Message) bool {
	return func(msgs []testmqtt.Message) bool {
		m, ok := testmqtt.Last(msgs, topic)
		return ok && m.Retained && m.Payload != ""
	}
}

// checkDiscovery decodes the last config on topic and checks what Home
// Assistant needs to link the sensor to its state.
func checkDiscovery(t *testing.T, msgs []testmqtt.Message, topic, name, state string) {
	t.Helper()
	m, ok := testmqtt.Last(msgs, topic)
	if !ok {
		t.Fatalf("no discovery config on %s", topic)
	}
	var c haSensor
	if err := json.Unmarshal([]byte(m.Payload), &c); err != nil {
		t.Fatalf("discovery config %q: %v", m.Payload, err)
	}
	wantID := "visiongate_" + strings.TrimSuffix(strings.TrimPrefix(topic, "homeassistant/sensor/visiongate/"), "/config")
	if c.Name != name || c.StateTopic != state || c.UniqueID != wantID || c.AvailabilityTopic != avail ||
		len(c.Device.Identifiers) != 1 || c.Device.Identifiers[0] != "visiongate_cam1" {
		t.Errorf("discovery config on %s = %+v", topic, c)
	}
}

// The broker goes away mid-run: Publish never waits, events are dropped
// and counted, and after the broker returns (empty: no persistence) the
// publisher reconnects and republishes availability, discovery and the
// latest counts.
func TestBrokerRestart(t *testing.T) {
	b := testmqtt.StartBroker(t)
	p := start(t, Options{URL: b.URL()})
	waitConnected(t, p)
	sub := testmqtt.Subscribe(t, b.URL(), "visiongate/cam1/all/person")
	p.Publish(detections("cam1", objects("person", 1)))
	waitFor(t, sub, "first count", has("visiongate/cam1/all/person", "1", false))

	b.Stop()
	waitStats(t, p, "disconnected", func(s Stats) bool { return !s.Connected })
	before := p.Stats().Dropped
	for i := range 200 {
		t0 := time.Now()
		p.Publish(detections("cam1", objects("person", 2+i%2), uint64(i+1), uint64(i+1000)))
		if d := time.Since(t0); d > 50*time.Millisecond {
			t.Fatalf("Publish %d took %v with the broker down", i, d)
		}
	}
	if got := p.Stats().Dropped - before; got != 400 {
		t.Errorf("dropped %d events while down, want 400", got)
	}

	t0 := time.Now()
	b.Start()
	watch := testmqtt.Subscribe(t, b.URL(), "#")
	waitConnected(t, p)
	t.Logf("reconnected %v after the broker restarted", time.Since(t0))
	waitFor(t, watch, "republished state", all(has(avail, "online", false), has("visiongate/cam1/all/person", "3", false),
		countEvents("homeassistant/sensor/visiongate/cam1_all_person/config", 1)))
	fresh := testmqtt.Subscribe(t, b.URL(), "#") // after the republish: all retained
	msgs := waitFor(t, fresh, "retained state", all(has(avail, "online", true),
		has("visiongate/cam1/all/person", "3", true), countRetained("homeassistant/sensor/visiongate/cam1_all_person/config")))
	checkDiscovery(t, msgs, "homeassistant/sensor/visiongate/cam1_all_person/config", "cam1 all person", "visiongate/cam1/all/person")

	p.Publish(detections("cam1", nil, 4242))
	msgs = waitFor(t, fresh, "an event after the restart", countEvents("visiongate/cam1/events", 1))
	if evs := events(t, msgs, "visiongate/cam1/events"); evs[0].TrackID != 4242 {
		t.Errorf("event after restart = %+v, want track 4242", evs[0])
	}
}

func TestForgetClearsRetained(t *testing.T) {
	b := testmqtt.StartBroker(t)
	p := start(t, Options{URL: b.URL(), TopicPrefix: "home/vg", DiscoveryPrefix: "ha"})
	waitConnected(t, p)
	live := testmqtt.Subscribe(t, b.URL(), "#")
	count, cfg := "home/vg/cam1/all/person", "ha/sensor/home_vg/cam1_all_person/config"
	p.Publish(detections("cam1", objects("person", 1)))
	p.Publish(detections("cam2", objects("person", 5)))
	waitFor(t, live, "counts", all(has(count, "1", false), has("home/vg/cam2/all/person", "5", false),
		func(msgs []testmqtt.Message) bool { m, ok := testmqtt.Last(msgs, cfg); return ok && m.Payload != "" }))

	p.Forget("cam1")
	waitFor(t, live, "cleared topics", all(has(count, "", false), has(cfg, "", false)))

	// Retained messages reach a new subscriber before anything published
	// after it subscribed, so once the marker event is in, they all are.
	fresh := testmqtt.Subscribe(t, b.URL(), "#")
	p.Publish(detections("cam1", nil, 1))
	msgs := waitFor(t, fresh, "marker event", countEvents("home/vg/cam1/events", 1))
	for _, m := range msgs {
		if m.Topic == count || m.Topic == cfg {
			t.Errorf("after Forget, a new subscriber still gets %v", m)
		}
	}
	if _, ok := testmqtt.Last(msgs, "home/vg/cam2/all/person"); !ok {
		t.Error("Forget(cam1) cleared cam2's count too")
	}
}

// Close is bounded when the broker is gone or was never there.
func TestCloseWithoutBroker(t *testing.T) {
	b := testmqtt.StartBroker(t)
	p := start(t, Options{URL: b.URL()})
	waitConnected(t, p)
	b.Stop()
	for _, p := range []*Publisher{p, start(t, Options{URL: b.URL()})} {
		t0 := time.Now()
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if d := time.Since(t0); d > closeTimeout {
			t.Errorf("Close took %v, want <= %v", d, closeTimeout)
		}
		p.Publish(detections("cam1", objects("person", 1), 1)) // after Close: dropped, no panic
		if s := p.Stats(); s.Connected || s.Dropped != 1 {
			t.Errorf("after Close: %+v, want disconnected and the event dropped", s)
		}
	}
}

// Credentials never reach the log or the stats, even on connect errors.
func TestCredentialsNotLogged(t *testing.T) {
	b := testmqtt.StartBroker(t)
	b.Stop() // nothing listens: every attempt fails and is reported
	var logs lockedBuffer
	p := start(t, Options{
		URL: strings.Replace(b.URL(), "tcp://", "tcp://alice:hunter2@", 1),
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	s := waitStats(t, p, "reporting the connect error", func(s Stats) bool { return s.LastError != "" })
	for _, text := range []string{s.LastError, logs.String()} {
		if strings.Contains(text, "hunter2") || strings.Contains(text, "alice") {
			t.Errorf("credentials leaked: %s", text)
		}
	}
	if !strings.Contains(logs.String(), "127.0.0.1") {
		t.Errorf("log does not name the broker: %s", logs.String())
	}
}

// A broker that hangs with the connection up stalls the sender: Publish
// still returns at once and drops (counts) the events that do not fit.
func TestStalledBrokerFillsQueue(t *testing.T) {
	b := testmqtt.StartBroker(t)
	p := start(t, Options{URL: b.URL(), QueueSize: 1})
	waitConnected(t, p)
	sub := testmqtt.Subscribe(t, b.URL(), "visiongate/cam1/#")

	b.Pause()
	p.Publish(detections("cam1", objects("person", 1)))
	// Once the sender has taken the wake-up it waits for a PUBACK that the
	// paused broker will not send (for publishTimeout).
	deadline := time.Now().Add(waitTimeout)
	for len(p.wake) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sender never took the counts")
		}
		time.Sleep(time.Millisecond) // poll interval
	}
	t0 := time.Now()
	for i := range 200 {
		t1 := time.Now()
		p.Publish(detections("cam1", nil, uint64(2*i+1), uint64(2*i+2)))
		if d := time.Since(t1); d > 50*time.Millisecond {
			t.Fatalf("Publish %d took %v with the broker stalled", i, d)
		}
	}
	if d := time.Since(t0); d > publishTimeout/2 {
		t.Fatalf("200 Publish calls took %v: the sender may have timed out meanwhile", d)
	}
	if s := p.Stats(); s.Dropped != 399 || !s.Connected {
		t.Errorf("stats = %+v, want 399 dropped (queue of 1) and still connected", s)
	}
	b.Resume()
	msgs := waitFor(t, sub, "the count and the queued event", all(has("visiongate/cam1/all/person", "1", false),
		countEvents("visiongate/cam1/events", 1)))
	if evs := events(t, msgs, "visiongate/cam1/events"); evs[0].TrackID != 1 {
		t.Errorf("queued event = %+v, want track 1 (the first one)", evs[0])
	}
}

// Close is bounded when the broker hangs mid-publish.
func TestCloseStalledBroker(t *testing.T) {
	b := testmqtt.StartBroker(t)
	p := start(t, Options{URL: b.URL()})
	waitConnected(t, p)
	b.Pause()
	p.Publish(detections("cam1", objects("person", 1), 1))
	t0 := time.Now()
	err := p.Close()
	if d := time.Since(t0); d > closeTimeout {
		t.Errorf("Close took %v, want <= %v", d, closeTimeout)
	}
	if err != nil {
		t.Errorf("Close: %v", err)
	}
	t.Logf("Close with a stalled broker took %v", time.Since(t0))
}

// A connection lost while a retained publish waits for its PUBACK must not
// hold the sender for publishTimeout: the state goes out on reconnection.
func TestConnectionLossAbortsInFlightPublish(t *testing.T) {
	b := testmqtt.StartBroker(t)
	p := start(t, Options{URL: b.URL()})
	waitConnected(t, p)
	b.Pause()
	p.Publish(detections("cam1", objects("person", 1)))
	deadline := time.Now().Add(waitTimeout)
	for len(p.wake) != 0 { // the sender is now waiting for the PUBACK
		if time.Now().After(deadline) {
			t.Fatal("the sender never took the counts")
		}
		time.Sleep(time.Millisecond) // poll interval
	}
	p.conn.cut()
	b.Resume()
	t0 := time.Now()
	sub := testmqtt.Subscribe(t, b.URL(), "visiongate/cam1/all/person")
	if _, err := sub.WaitFor(has("visiongate/cam1/all/person", "1", false), publishTimeout*3/5); err != nil {
		t.Fatalf("count not (re)published within %v of the connection loss: %v", publishTimeout*3/5, err)
	}
	t.Logf("count republished %v after the connection loss", time.Since(t0))
}

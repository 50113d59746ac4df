package mqtt

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/visiongate/visiongate/internal/testmqtt"
	"github.com/visiongate/visiongate/media"
)

// Every Publisher goroutine and paho's must be gone after each test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait for the broker on loopback.
const waitTimeout = 10 * time.Second

// start starts a Publisher on url and closes it when the test ends,
// failing the test if Close fails.
func start(t *testing.T, o Options) *Publisher {
	t.Helper()
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	p, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(b)))
	return len(b), nil
}

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitStats polls the publisher's stats until cond holds.
func waitStats(t *testing.T, p *Publisher, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		s := p.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("publisher not %s within %v: %+v", what, waitTimeout, s)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

func waitConnected(t *testing.T, p *Publisher) {
	t.Helper()
	waitStats(t, p, "connected", func(s Stats) bool { return s.Connected })
}

// waitFor waits for cond on sub's messages, failing the test with what did
// arrive.
func waitFor(t *testing.T, sub *testmqtt.Sub, what string, cond func([]testmqtt.Message) bool) []testmqtt.Message {
	t.Helper()
	msgs, err := sub.WaitFor(cond, waitTimeout)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return msgs
}

// has reports whether msgs hold topic = payload (retained if asked).
func has(topic, payload string, retained bool) func([]testmqtt.Message) bool {
	return func(msgs []testmqtt.Message) bool {
		for _, m := range msgs {
			if m.Topic == topic && m.Payload == payload && (!retained || m.Retained) {
				return true
			}
		}
		return false
	}
}

// all is true when every condition is.
func all(conds ...func([]testmqtt.Message) bool) func([]testmqtt.Message) bool {
	return func(msgs []testmqtt.Message) bool {
		for _, c := range conds {
			if !c(msgs) {
				return false
			}
		}
		return true
	}
}

// events decodes the events published on topic.
func events(t *testing.T, msgs []testmqtt.Message, topic string) []media.Event {
	t.Helper()
	var out []media.Event
	for _, m := range msgs {
		if m.Topic != topic {
			continue
		}
		var ev media.Event
		if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
			t.Fatalf("event on %s is not JSON: %q: %v", topic, m.Payload, err)
		}
		out = append(out, ev)
	}
	return out
}

// countEvents returns a condition: at least n events on topic.
func countEvents(topic string, n int) func([]testmqtt.Message) bool {
	return func(msgs []testmqtt.Message) bool {
		k := 0
		for _, m := range msgs {
			if m.Topic == topic {
				k++
			}
		}
		return k >= n
	}
}

// detections is a result of source with one new-track event per track id.
func detections(source string, counts *media.Counts, tracks ...uint64) media.Detections {
	d := media.Detections{Source: source, Time: time.Now(), Counts: counts}
	for _, id := range tracks {
		d.Events = append(d.Events, media.Event{
			Type: media.EventNew, Source: source, TrackID: id, Label: "person", Score: 0.9,
			Box: media.Box{X: 1, Y: 2, W: 3, H: 4, Label: "person", TrackID: id}, Time: d.Time,
		})
	}
	return d
}

func objects(kv ...any) *media.Counts {
	c := &media.Counts{Objects: map[string]int{}}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Objects[kv[i].(string)] = kv[i+1].(int)
	}
	return c
}

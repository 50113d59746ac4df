package testmqtt

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// Message is one PUBLISH the subscriber received.
type Message struct {
	Topic   string
	Payload string
	// Retained is set when the broker delivered the message from its
	// retained store (on subscribing), not as a live publication.
	Retained bool
}

func (m Message) String() string {
	r := ""
	if m.Retained {
		r = " (retained)"
	}
	return fmt.Sprintf("%s = %q%s", m.Topic, m.Payload, r)
}

// Sub is an MQTT subscriber that records every message it receives. It
// does not reconnect: after a broker restart, subscribe again.
type Sub struct {
	cli *paho.Client

	mu      sync.Mutex
	msgs    []Message
	changed chan struct{} // closed and replaced on every new message
}

var subSeq atomic.Uint64

// Subscribe connects to the broker at rawURL (tcp://host:port), subscribes
// to topicFilter at QoS 1 and returns once the broker has acknowledged the
// subscription. The client disconnects when the test ends.
func Subscribe(t testing.TB, rawURL, topicFilter string) *Sub {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("testmqtt: subscriber URL: %v", err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("testmqtt: subscriber dial %s: %v", u.Host, err)
	}
	s := &Sub{changed: make(chan struct{})}
	s.cli = paho.NewClient(paho.ClientConfig{
		Conn:              packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){s.receive},
	})
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id := fmt.Sprintf("testmqtt-sub-%d", subSeq.Add(1))
	if _, err := s.cli.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		conn.Close()
		t.Fatalf("testmqtt: subscriber connect: %v", err)
	}
	sub := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topicFilter, QoS: 1}}}
	if _, err := s.cli.Subscribe(ctx, sub); err != nil {
		t.Fatalf("testmqtt: subscribe %q: %v", topicFilter, err)
	}
	return s
}

// receive is paho's callback for each incoming PUBLISH.
func (s *Sub) receive(pr paho.PublishReceived) (bool, error) {
	m := Message{Topic: pr.Packet.Topic, Payload: string(pr.Packet.Payload), Retained: pr.Packet.Retain}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return true, nil
}

// Messages returns a copy of everything received so far, in order.
func (s *Sub) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until cond holds for the messages received so far and
// returns them; after timeout it returns them with an error that lists the
// last ones, so a failing test says what did arrive.
func (s *Sub) WaitFor(cond func(msgs []Message) bool, timeout time.Duration) ([]Message, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		msgs := append([]Message(nil), s.msgs...)
		changed := s.changed
		s.mu.Unlock()
		if cond(msgs) {
			return msgs, nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return msgs, fmt.Errorf("condition not met within %v; %d messages received:%s",
				timeout, len(msgs), describe(msgs, 20))
		}
	}
}

// describe lists the last n messages, one a line.
func describe(msgs []Message, n int) string {
	var b strings.Builder
	if len(msgs) > n {
		fmt.Fprintf(&b, "\n  ... %d earlier", len(msgs)-n)
		msgs = msgs[len(msgs)-n:]
	}
	for _, m := range msgs {
		b.WriteString("\n  " + m.String())
	}
	return b.String()
}

// Close disconnects and waits for the client's goroutines. Safe to call
// twice, and after the broker has gone.
func (s *Sub) Close() {
	_ = s.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
}

// Last returns the payload of the last message on topic, and whether any.
func Last(msgs []Message, topic string) (Message, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic == topic {
			return msgs[i], true
		}
	}
	return Message{}, false
}

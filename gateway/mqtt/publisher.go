// Package mqtt publishes detection events and live object counts to an MQTT
// broker for Home Assistant and Node-RED, with Home Assistant discovery.
//
// Topics (P is Options.TopicPrefix):
//
//	P/availability              "online" / "offline" (retained; offline is also the will)
//	P/<source>/events           one JSON media.Event per message (QoS 0)
//	P/<source>/<zone|all>/<label> the count as a decimal (retained, QoS 1)
//
// Publish never waits for the network: events go through a bounded queue
// (dropped, counted, when it is full or the broker is down) and counts are
// state that is sent when it changes and again after every reconnection.
package mqtt

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/visiongate/visiongate/media"
)

// Timeouts; Close's total is what the API promises.
const (
	dialTimeout    = 5 * time.Second
	publishTimeout = 5 * time.Second
	retryDelay     = time.Second // after a failed retained publish on a live connection
	closeTimeout   = 3 * time.Second
	keepAlive      = 30 // seconds
)

// ErrCloseTimeout is returned by Close when the connection did not shut
// down in time (it has been torn down regardless).
var ErrCloseTimeout = errors.New("mqtt: close timed out")

// Stats are the publisher's counters since Start.
type Stats struct {
	Connected bool   `json:"connected"`
	Published uint64 `json:"published"` // messages sent (retained ones acknowledged by the broker)
	Dropped   uint64 `json:"dropped"`   // events not sent: queue full, broker down or closed
	LastError string `json:"last_error,omitempty"`
}

// Publisher sends detections to one broker. Its methods are safe for
// concurrent use.
type Publisher struct {
	log    *slog.Logger
	topics topics
	state  *state
	cm     *autopaho.ConnectionManager
	conn   connTracker

	events chan event      // bounded: Publish drops when full
	wake   chan struct{}   // (cap 1) the state has something to send
	ctx    context.Context // the sender's; cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the sender has returned

	connMu     sync.Mutex
	connCtx    context.Context // cancelled when the current connection is lost; nil before the first
	connCancel context.CancelFunc

	connected atomic.Bool
	closed    atomic.Bool
	willOnEnd atomic.Bool // Close could not send "offline": ask the broker for the will
	published atomic.Uint64
	dropped   atomic.Uint64

	errMu     sync.Mutex
	lastErr   string
	loggedErr string // the last connect error logged, so retries don't flood the log

	closeOnce sync.Once
	closeErr  error
}

// event is one media.Event waiting for the sender.
type event struct {
	source string
	ev     media.Event
}

// Start validates o and returns a Publisher that connects in the
// background, reconnecting with backoff until Close.
func Start(o Options) (*Publisher, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	b, _ := parseBrokerURL(o.URL) // validated above
	user, password, _ := o.credentials(b)
	p := &Publisher{
		log:    o.Log.With("component", "mqtt", "broker", b.url.String()),
		topics: newTopics(o),
		events: make(chan event, o.QueueSize),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	p.state = newState(p.topics)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	cm, err := autopaho.NewConnection(context.Background(), p.clientConfig(o, b, user, password))
	if err != nil {
		p.cancel()
		return nil, err
	}
	p.cm = cm
	go p.run()
	return p, nil
}

// clientConfig is autopaho's configuration. The URL it gets (and may put
// in errors) carries no credentials.
func (p *Publisher) clientConfig(o Options, b broker, user, password string) autopaho.ClientConfig {
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{b.url},
		KeepAlive:                     keepAlive,
		CleanStartOnInitialConnection: true,
		// Retry at once, then within 0.25-2 s: a returning broker is
		// found within about 2 s, without hammering one that stays down.
		ReconnectBackoff:  autopaho.NewExponentialBackoff(250*time.Millisecond, 2*time.Second, 500*time.Millisecond, 2),
		ConnectTimeout:    dialTimeout,
		AttemptConnection: p.conn.dialer(b.tls),
		OnConnectionUp:    p.onUp,
		OnConnectionDown:  p.onDown,
		OnConnectError:    p.onConnectError,
		ConnectUsername:   user,
		WillMessage: &paho.WillMessage{
			Topic: p.topics.availability(), Payload: []byte(payloadOffline), QoS: 1, Retain: true,
		},
		DisconnectPacketBuilder: p.disconnectPacket,
		ClientConfig: paho.ClientConfig{
			ClientID:           o.ClientID,
			OnClientError:      func(err error) { p.setErr("connection lost", err) },
			OnServerDisconnect: p.onServerDisconnect,
		},
	}
	if password != "" {
		cfg.ConnectPassword = []byte(password)
	}
	return cfg
}

// Publish hands a detector result to the sender without waiting: its
// events are queued (or dropped and counted) and its counts recorded.
func (p *Publisher) Publish(d media.Detections) {
	if len(d.Events) > 0 {
		p.enqueue(d.Source, d.Events)
	}
	if d.Counts != nil && !p.closed.Load() && p.state.setCounts(d.Source, d.Counts) {
		p.signal()
	}
}

// enqueue queues events, dropping those that cannot be sent now: stale
// events are worse than missing ones for automations.
func (p *Publisher) enqueue(source string, evs []media.Event) {
	if !p.connected.Load() || p.closed.Load() {
		p.dropped.Add(uint64(len(evs)))
		return
	}
	for _, ev := range evs {
		select {
		case p.events <- event{source, ev}:
		default:
			p.dropped.Add(1)
		}
	}
}

// Forget clears a removed source's retained counts and discovery configs
// (Home Assistant then removes its sensors).
func (p *Publisher) Forget(source string) {
	if p.state.forget(source) {
		p.signal()
	}
}

// Stats returns the counters and connection state.
func (p *Publisher) Stats() Stats {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return Stats{
		Connected: p.connected.Load(),
		Published: p.published.Load(),
		Dropped:   p.dropped.Load(),
		LastError: p.lastErr,
	}
}

// signal wakes the sender without blocking.
func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// setErr records a failure and logs it unless it repeats the last one
// logged (autopaho retries every few seconds). err never holds credentials:
// autopaho only ever sees the URL without userinfo.
func (p *Publisher) setErr(what string, err error) {
	msg := what + ": " + err.Error()
	p.errMu.Lock()
	p.lastErr = msg
	repeat := msg == p.loggedErr
	p.loggedErr = msg
	p.errMu.Unlock()
	if !repeat {
		p.log.Warn("mqtt: "+what, "err", err)
	}
}

package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// reasonDisconnectWithWill asks the broker to publish the will anyway
// (MQTT 5 DISCONNECT reason code 0x04).
const reasonDisconnectWithWill = 0x04

// run is the sender, the only goroutine that publishes, so a source's
// events keep their order. Close cancels it and waits for it.
func (p *Publisher) run() {
	defer close(p.done)
	var retry <-chan time.Time // armed when a flush failed on a live connection
	for {
		flush := false
		select {
		case <-p.ctx.Done():
			return
		case e := <-p.events:
			p.sendEvent(e)
		case <-p.wake:
			flush = true
		case <-retry:
			flush = true
		}
		if flush {
			retry = nil
			if !p.flush() && p.connected.Load() {
				retry = time.After(retryDelay)
			}
		}
	}
}

func (p *Publisher) sendEvent(e event) {
	if !p.connected.Load() {
		p.dropped.Add(1)
		return
	}
	payload, err := json.Marshal(e.ev)
	if err != nil {
		p.dropped.Add(1)
		p.setErr("encode event", err)
		return
	}
	if err := p.send(p.topics.events(TopicLevel(e.source)), payload, 0, false); err != nil {
		p.dropped.Add(1)
		p.setErr("publish event", err)
	}
}

// flush sends the retained state that changed. On failure the rest stays
// dirty and it reports false.
func (p *Publisher) flush() bool {
	if !p.connected.Load() {
		return true // onUp wakes the sender again
	}
	for _, m := range p.state.dirty() {
		if p.ctx.Err() != nil {
			return true
		}
		if err := p.send(m.topic, m.payload, 1, true); err != nil {
			p.setErr("publish retained", err)
			return false
		}
		p.state.sent(m)
	}
	return true
}

// send publishes one message; QoS 1 waits for the broker's PUBACK.
func (p *Publisher) send(topic string, payload []byte, qos byte, retain bool) error {
	ctx, cancel := p.connBound(p.ctx, publishTimeout)
	defer cancel()
	_, err := p.cm.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload, QoS: qos, Retain: retain})
	if err == nil {
		p.published.Add(1)
	}
	return err
}

// connBound derives a context that also ends when the current connection
// is lost: paho drops the session (expiry 0) without answering a publish
// waiting for its PUBACK, which would otherwise wait for the timeout.
func (p *Publisher) connBound(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	p.connMu.Lock()
	conn := p.connCtx
	p.connMu.Unlock()
	if conn == nil {
		return ctx, cancel
	}
	stop := context.AfterFunc(conn, cancel)
	return ctx, func() { stop(); cancel() }
}

// onUp runs on every (re)connection: the broker may have restarted without
// its retained messages, so availability, discovery and counts go again.
// autopaho requires it not to block.
func (p *Publisher) onUp(_ *autopaho.ConnectionManager, _ *paho.Connack) {
	p.connMu.Lock()
	p.connCtx, p.connCancel = context.WithCancel(context.Background())
	p.connMu.Unlock()
	p.state.markAllDirty()
	p.connected.Store(true)
	p.errMu.Lock()
	p.loggedErr = "" // log the next outage's first error again
	p.errMu.Unlock()
	p.log.Info("mqtt: connected")
	p.signal()
}

// onDown keeps autopaho reconnecting after a lost connection, and aborts
// publishes waiting for their PUBACK.
func (p *Publisher) onDown() bool {
	p.connected.Store(false)
	p.connMu.Lock()
	p.connCancel()
	p.connMu.Unlock()
	p.log.Warn("mqtt: connection lost; reconnecting")
	return true
}

func (p *Publisher) onConnectError(err error) { p.setErr("connect", err) }

// onServerDisconnect reports why the broker hung up, e.g. another client
// took over this client id (0x8E).
func (p *Publisher) onServerDisconnect(d *paho.Disconnect) {
	reason := ""
	if d.Properties != nil {
		reason = d.Properties.ReasonString
	}
	p.setErr("broker disconnected", fmt.Errorf("reason code 0x%02X %s", d.ReasonCode, reason))
}

// disconnectPacket is what Close sends: if "offline" could not be
// published, the broker publishes the will instead.
func (p *Publisher) disconnectPacket() *paho.Disconnect {
	if p.willOnEnd.Load() {
		return &paho.Disconnect{ReasonCode: reasonDisconnectWithWill}
	}
	return &paho.Disconnect{ReasonCode: 0}
}

// Close publishes "offline", disconnects and waits for every goroutine,
// within 3 s even when the broker is gone. Later calls return the same.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.shutdown() })
	return p.closeErr
}

func (p *Publisher) shutdown() error {
	deadline := time.Now().Add(closeTimeout)
	p.closed.Store(true)
	p.cancel()
	senderOK := p.stopSender(deadline)
	p.sayOffline(time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-500*time.Millisecond))
	defer cancel()
	err := p.cm.Disconnect(ctx)
	if err != nil {
		p.conn.cut() // DISCONNECT is stuck on a dead peer
		if !waitUntil(p.cm.Done(), deadline) {
			return ErrCloseTimeout
		}
	}
	p.connected.Store(false)
	if !senderOK {
		return ErrCloseTimeout
	}
	p.log.Info("mqtt: closed")
	return nil
}

// stopSender waits for the cancelled sender; one stuck in a write to a
// dead peer is freed by cutting the connection.
func (p *Publisher) stopSender(deadline time.Time) bool {
	if waitUntil(p.done, time.Now().Add(500*time.Millisecond)) {
		return true
	}
	p.conn.cut()
	return waitUntil(p.done, deadline)
}

// sayOffline publishes "offline" while still connected, or has the
// DISCONNECT ask for the will.
func (p *Publisher) sayOffline(timeout time.Duration) {
	if !p.connected.Load() {
		p.willOnEnd.Store(true)
		return
	}
	ctx, cancel := p.connBound(context.Background(), timeout)
	defer cancel()
	pub := &paho.Publish{Topic: p.topics.availability(), Payload: []byte(payloadOffline), QoS: 1, Retain: true}
	if _, err := p.cm.Publish(ctx, pub); err != nil {
		p.willOnEnd.Store(true)
		p.setErr("publish offline", err)
		return
	}
	p.published.Add(1)
}

// waitUntil waits for ch to close, at most until deadline.
func waitUntil(ch <-chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

package mqtt

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
)

// connTracker dials the broker and remembers the current connection, so
// that Close can tear it down when a write hangs on a dead peer (paho
// writes without deadlines), and tests can cut it as a crash would.
type connTracker struct {
	mu   sync.Mutex
	conn net.Conn
}

// dialer is autopaho's AttemptConnection.
func (t *connTracker) dialer(useTLS bool) func(context.Context, autopaho.ClientConfig, *url.URL) (net.Conn, error) {
	return func(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
		d := &net.Dialer{Timeout: dialTimeout}
		var c net.Conn
		var err error
		if useTLS {
			td := &tls.Dialer{NetDialer: d, Config: &tls.Config{MinVersion: tls.VersionTLS12}}
			c, err = td.DialContext(ctx, "tcp", u.Host)
		} else {
			c, err = d.DialContext(ctx, "tcp", u.Host)
		}
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		t.conn = c
		t.mu.Unlock()
		// paho writes one packet in several Writes; the wrapper's lock
		// keeps concurrent packets from interleaving.
		return packets.NewThreadSafeConn(c), nil
	}
}

// cut closes the current connection abruptly (no DISCONNECT): the broker
// publishes the will, and paho's blocked reads and writes return.
func (t *connTracker) cut() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil {
		_ = t.conn.Close()
	}
}

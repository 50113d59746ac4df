package srt

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	srt "github.com/datarhei/gosrt"

	"github.com/visiongate/visiongate/gateway/publish"
)

// conn is one accepted publisher: its SRT connection and its Publisher.
type conn struct {
	srv    *Server
	sc     srt.Conn
	pub    *publish.Publisher
	remote string
	name   string
	start  time.Time
	// lastData is when data last came, as time since start (monotonic).
	lastData atomic.Int64
	// cause is why the server ended the connection; nil when the peer
	// did. The first end sets it.
	causeOnce sync.Once
	cause     error
}

func newConn(s *Server, sc srt.Conn, pub *publish.Publisher, remote, name string) *conn {
	return &conn{srv: s, sc: sc, pub: pub, remote: remote, name: name, start: time.Now()}
}

// end closes the connection, remembering why unless a reason came first.
func (c *conn) end(cause error) {
	c.causeOnce.Do(func() { c.cause = cause })
	c.sc.Close()
}

// run copies the stream into the publisher until either side ends, then
// ends the other.
func (c *conn) run(timeout time.Duration) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.watch(timeout, stop)
	}()
	c.end(c.copy())
	close(stop)
	wg.Wait()
	c.pub.Close(c.cause)
	c.logEnd()
}

// copy hands every SRT packet's payload to the publisher. It returns nil
// when the connection closes (the peer left, or end closed it).
func (c *conn) copy() error {
	for {
		// One packet at a time: its payload is one chunk of whole TS
		// packets, which a byte Read with a short buffer could split.
		p, err := c.sc.ReadPacket()
		if err != nil {
			return nil
		}
		c.lastData.Store(int64(time.Since(c.start)))
		err = checkTS(p.Data())
		if err == nil {
			_, err = c.pub.Write(p.Data()) // copies
		}
		p.Decommission()
		if err != nil {
			return err
		}
	}
}

// watch ends the connection when the publisher ends (taken over, source
// removed) or when no data came for timeout; it returns at stop.
func (c *conn) watch(timeout time.Duration, stop <-chan struct{}) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-c.pub.Done():
			c.end(c.pub.Err())
			return
		case <-t.C:
			idle := time.Since(c.start) - time.Duration(c.lastData.Load())
			if idle >= timeout {
				c.end(fmt.Errorf("%w for %s", ErrReadTimeout, timeout))
				return
			}
			t.Reset(timeout - idle)
		}
	}
}

func (c *conn) logEnd() {
	args := []any{"remote", c.remote, "name", c.name, "err", c.pub.Err()}
	switch {
	case errors.Is(c.cause, ErrNotMPEGTS), errors.Is(c.cause, ErrReadTimeout):
		c.srv.log.Warn("srt: publisher dropped", args...)
	default:
		c.srv.log.Info("srt: publisher left", args...)
	}
}

package web

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/visiongate/visiongate/internal/testnet"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// acceptAll accepts from ln until it fails, keeping the connections.
func acceptAll(ln net.Listener) <-chan net.Conn {
	out := make(chan net.Conn, 64)
	go func() {
		defer close(out)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			out <- c
		}
	}()
	return out
}

// closedByPeer reports whether the other end closed c (EOF or reset)
// within a few seconds.
func closedByPeer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := io.ReadAll(c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func accepted(t *testing.T, conns <-chan net.Conn, want string) net.Conn {
	t.Helper()
	select {
	case c := <-conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not accepted", want)
		return nil
	}
}

func TestLimitListenerPerAddress(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(raw, ConnLimits{PerAddress: 2})
	defer ln.Close()
	conns := acceptAll(ln)
	addr := raw.Addr().String()
	c1, c2 := testnet.DialFrom(t, "127.0.0.1", addr), testnet.DialFrom(t, "127.0.0.1", addr)
	s1, s2 := accepted(t, conns, "first"), accepted(t, conns, "second")
	third := testnet.DialFrom(t, "127.0.0.1", addr)
	if !closedByPeer(third) {
		t.Error("third connection from one address left open")
	}
	other := testnet.DialFrom(t, "127.0.0.2", addr)
	accepted(t, conns, "another address")
	if n := ln.Open(); n != 3 || ln.Refused() != 1 {
		t.Errorf("open %d refused %d, want 3 and 1", n, ln.Refused())
	}
	// The two within the limit still work both ways.
	for i, pair := range [][2]net.Conn{{c1, s1}, {c2, s2}, {other, nil}} {
		if pair[1] == nil {
			continue
		}
		fmt.Fprintf(pair[0], "ping %d\n", i)
		if line, err := bufio.NewReader(pair[1]).ReadString('\n'); err != nil || line != fmt.Sprintf("ping %d\n", i) {
			t.Errorf("connection %d: %q %v", i, line, err)
		}
	}
	s1.Close() // a slot frees: the address may connect again
	testnet.DialFrom(t, "127.0.0.1", addr)
	accepted(t, conns, "a connection after one closed")
}

// Over Total, a refusing listener closes new connections at once.
func TestLimitListenerTotal(t *testing.T) {
	raw, _ := net.Listen("tcp", "127.0.0.1:0")
	ln := LimitListener(raw, ConnLimits{Total: 2})
	defer ln.Close()
	conns := acceptAll(ln)
	addr := raw.Addr().String()
	testnet.DialFrom(t, "127.0.0.1", addr)
	testnet.DialFrom(t, "127.0.0.2", addr)
	accepted(t, conns, "first")
	accepted(t, conns, "second")
	if c := testnet.DialFrom(t, "127.0.0.3", addr); !closedByPeer(c) {
		t.Error("connection over the total left open")
	}
}

// flaky fails Accept with errs first: what a process out of file
// descriptors sees.
type flaky struct {
	net.Listener
	errs []error
}

func (f *flaky) Accept() (net.Conn, error) {
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return f.Listener.Accept()
}

// Temporary accept errors (EMFILE...) are ridden out and reported once;
// a closed listener's error is returned. Handed to gortsplib, the bare
// error would stop its server for good.
func TestLimitListenerRidesOutAcceptErrors(t *testing.T) {
	raw, _ := net.Listen("tcp", "127.0.0.1:0")
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	var reported []error
	ln := LimitListener(&flaky{Listener: raw, errs: []error{emfile, emfile, emfile}},
		ConnLimits{OnAcceptError: func(err error) { reported = append(reported, err) }})
	testnet.DialFrom(t, "127.0.0.1", raw.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept returned %v, want the connection after the errors", err)
	}
	c.Close()
	if len(reported) != 1 || !errors.Is(reported[0], syscall.EMFILE) {
		t.Errorf("reported %v, want EMFILE once", reported)
	}
	ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}

// Refused HTTP connections read a 429.
func TestRefuseHTTP(t *testing.T) {
	raw, _ := net.Listen("tcp", "127.0.0.1:0")
	ln := LimitListener(raw, ConnLimits{PerAddress: 1, Refuse: RefuseHTTP})
	defer ln.Close()
	conns := acceptAll(ln)
	testnet.DialFrom(t, "127.0.0.1", raw.Addr().String())
	accepted(t, conns, "first")
	c := testnet.DialFrom(t, "127.0.0.1", raw.Addr().String())
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %v %v", resp, err)
	}
}

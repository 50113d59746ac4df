// Package testnet has the small network helpers tests share: connections
// from other loopback addresses, and a listener that only counts.
package testnet

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// DialFrom connects to addr from local, one of our loopback addresses
// (Linux routes all of 127.0.0.0/8 to lo), standing in for another client.
// The connection is closed when the test ends.
func DialFrom(t testing.TB, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// CountingListener accepts connections on loopback, closes them at once
// and counts them, so a test can prove that nothing connected. It returns
// the port and the count.
func CountingListener(t testing.TB) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, &accepted
}

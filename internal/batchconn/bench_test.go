package batchconn

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fan-out the gateway serves: 100 TCP readers of one 30 fps stream
// whose frames are 8 RTP packets of 1400 bytes, each written as its own
// interleaved frame (4-byte header + packet), as gortsplib does.
const (
	benchReaders = 100
	benchPackets = 8
	benchFrame   = 4 + 1400
	benchFPS     = 30
)

// BenchmarkDirect writes each packet straight to the accepted conns.
func BenchmarkDirect(b *testing.B) { benchFanout(b, nil) }

// BenchmarkCoalesced writes through Wrap with the default Options.
func BenchmarkCoalesced(b *testing.B) { benchFanout(b, &Options{}) }

// benchFanout runs one op per frame tick, paced at benchFPS: every reader's
// writer goroutine writes the frame's packets (with a deadline per write,
// as gortsplib does). ns/op is therefore ~33 ms; compare the metrics:
// cpu-µs/tick (process user+sys CPU, readers included), and write and
// read syscalls per reader-frame (from /proc/self/io).
func benchFanout(b *testing.B, o *Options) {
	var ln net.Listener
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if o != nil {
		ln = Wrap(ln, *o)
	}
	defer ln.Close()
	conns, stopReaders := dialReaders(b, ln)
	ticks := make([]chan struct{}, benchReaders)
	var wrote sync.WaitGroup
	for i, c := range conns {
		ticks[i] = make(chan struct{})
		go writeFrames(c, ticks[i], &wrote)
	}
	tick := time.NewTicker(time.Second / benchFPS)
	defer tick.Stop()
	frame := func() {
		<-tick.C
		wrote.Add(benchReaders)
		for _, t := range ticks {
			t <- struct{}{}
		}
		wrote.Wait()
	}
	for range 5 { // grow the buffers before measuring
		frame()
	}
	b.ResetTimer()
	start := sample()
	for range b.N {
		frame()
	}
	time.Sleep(20 * time.Millisecond) // let the last flushes and reads happen
	end := sample()
	b.StopTimer()
	frames := float64(b.N * benchReaders)
	b.ReportMetric(float64(end.cpu-start.cpu)/float64(b.N)/1e3, "cpu-µs/tick")
	b.ReportMetric(float64(end.syscw-start.syscw)/frames, "writes/frame")
	b.ReportMetric(float64(end.syscr-start.syscr)/frames, "reads/frame")
	for _, t := range ticks {
		close(t)
	}
	for _, c := range conns {
		c.Close()
	}
	stopReaders()
}

// dialReaders connects benchReaders clients that read and discard, and
// returns the accepted server-side conns and a func that waits for the
// readers to finish once those conns are closed.
func dialReaders(b *testing.B, ln net.Listener) ([]net.Conn, func()) {
	var readers sync.WaitGroup
	var conns []net.Conn
	for range benchReaders {
		cli, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		srv, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, srv)
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer cli.Close()
			buf := make([]byte, 64<<10)
			for {
				if _, err := cli.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	return conns, readers.Wait
}

// writeFrames writes one frame per tick, like a gortsplib session writer.
func writeFrames(c net.Conn, tick <-chan struct{}, wrote *sync.WaitGroup) {
	pkt := bytes.Repeat([]byte{0x5a}, benchFrame)
	for range tick {
		for range benchPackets {
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(pkt); err != nil {
				panic(err)
			}
		}
		wrote.Done()
	}
}

type usage struct{ cpu, syscw, syscr int64 }

// sample reads the process's CPU time and write/read syscall counts.
func sample() usage {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for SELF
	u := usage{cpu: ru.Utime.Nano() + ru.Stime.Nano()}
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return u // not Linux: only CPU
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := bytes.Cut(s.Bytes(), []byte(": "))
		n, _ := strconv.ParseInt(string(v), 10, 64)
		switch string(k) {
		case "syscw":
			u.syscw = n
		case "syscr":
			u.syscr = n
		}
	}
	return u
}

// Package testmqtt runs a real MQTT broker (Debian's mosquitto) on loopback
// for tests, and a small subscriber that records what the broker delivers.
package testmqtt

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a broker may take to accept connections.
const startTimeout = 10 * time.Second

// Broker is a mosquitto process listening on 127.0.0.1. It keeps no state
// across restarts (persistence off), like a broker that lost its disk.
type Broker struct {
	t    testing.TB
	bin  string
	port int
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited and been reaped
}

// StartBroker starts mosquitto on a free loopback port and stops it when
// the test ends. It fails the test when mosquitto is not installed: the
// MQTT tests must run, not pass by skipping.
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	bin, err := findMosquitto()
	if err != nil {
		t.Fatalf("testmqtt: %v; `make setup` installs it (Debian package mosquitto)", err)
	}
	b := &Broker{t: t, bin: bin, port: freePort(t), dir: t.TempDir()}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", b.port)
	if err := os.WriteFile(b.confPath(), []byte(conf), 0o644); err != nil {
		t.Fatalf("testmqtt: write config: %v", err)
	}
	t.Cleanup(b.Stop)
	b.Start()
	return b
}

// findMosquitto looks on PATH and in /usr/sbin, which is often not on a
// non-root user's PATH.
func findMosquitto() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("mosquitto is not installed (not on PATH nor in /usr/sbin)")
}

// freePort asks the kernel for a free TCP port on loopback.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testmqtt: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (b *Broker) confPath() string { return filepath.Join(b.dir, "mosquitto.conf") }
func (b *Broker) logPath() string  { return filepath.Join(b.dir, "mosquitto.log") }

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// URL is the broker's address as an MQTT URL.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Start starts the broker (again) on the same port and returns once it
// accepts connections. Call it from the test's goroutine: it fails the test.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		b.t.Fatalf("testmqtt: broker on %s already running", b.Addr())
	}
	logf, err := os.OpenFile(b.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatalf("testmqtt: broker log: %v", err)
	}
	defer logf.Close() // the child has its own copy of the descriptor
	// An *os.File as output means os/exec starts no copying goroutines.
	cmd := exec.Command(b.bin, "-c", b.confPath())
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("testmqtt: start %s: %v", b.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // owned: Stop waits on done
	b.cmd, b.done = cmd, done
	if err := b.waitAccepting(done); err != nil {
		b.t.Fatalf("testmqtt: %v\nmosquitto log:\n%s", err, b.logTail())
	}
}

// waitAccepting polls the port until it accepts a connection, the process
// exits or the deadline passes.
func (b *Broker) waitAccepting(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("mosquitto exited before accepting on %s", b.Addr())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mosquitto did not accept on %s within %v: %v", b.Addr(), startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

// Stop kills the broker abruptly (clients see their connections drop, as
// on a crash) and waits until the process is gone. Safe to call twice.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	<-b.done
	b.cmd, b.done = nil, nil
}

// Pause freezes the broker (SIGSTOP): connections stay open but nothing
// is read or acknowledged, as with a broker that hangs or a network that
// stalls. Resume undoes it; Stop works on a paused broker too.
// It returns once the kernel reports the process stopped.
func (b *Broker) Pause() {
	b.t.Helper()
	b.signal(syscall.SIGSTOP)
	b.mu.Lock()
	pid := b.cmd.Process.Pid
	b.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	for procState(pid) != 'T' {
		if time.Now().After(deadline) {
			b.t.Fatalf("testmqtt: mosquitto (pid %d) not stopped within %v", pid, startTimeout)
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

// procState is the state letter in /proc/<pid>/stat (Linux), or 0.
func procState(pid int) byte {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// "pid (comm) S ...": comm may hold spaces, so look after the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}

// Resume lets a paused broker run again.
func (b *Broker) Resume() { b.signal(syscall.SIGCONT) }

func (b *Broker) signal(sig os.Signal) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		b.t.Fatalf("testmqtt: broker on %s is not running", b.Addr())
	}
	if err := b.cmd.Process.Signal(sig); err != nil {
		b.t.Fatalf("testmqtt: signal %v: %v", sig, err)
	}
}

// logTail is the end of mosquitto's output, for failure messages.
func (b *Broker) logTail() string {
	data, err := os.ReadFile(b.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

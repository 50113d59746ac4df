package app

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/internal/testcam"
)

// A camera gone for 8 s is live again at a connected reader soon after its
// return with the default backoff (1 s doubling to 30 s): while the backoff
// waits, the camera's host is probed every second and the source retries
// as soon as it answers. The target is 3 s (measured 1.5-2.1 s here); the
// bound is 5 s so a loaded CI machine does not fail it, while the old
// behaviour (the next attempt 7-9 s away) still does.
func TestReturningCameraIsLiveSoonWithDefaultBackoff(t *testing.T) {
	cam := testcam.Start(t, testcam.Options{Width: 320, Height: 240, FPS: 25})
	g := startGateway(t, fmt.Sprintf("sources:\n  - name: back\n    url: %s\n    transport: tcp\n", cam.URL))
	g.waitRunning("back", 10*time.Second)
	rd, err := startTimedReader(g.rtspURL("back"))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.close()
	g.waitReaders("back", "rtsp", 1, 5*time.Second)

	cam.Close()
	g.waitState("back", manager.StateRetrying, 5*time.Second)
	time.Sleep(8 * time.Second) // the outage itself
	cam.Restart(t)
	back := time.Now()
	live, ok := rd.firstFrameAfter(back, 10*time.Second)
	if !ok {
		t.Fatalf("no camera frame reached the reader within 10 s of the camera's return; status %+v", g.status("back"))
	}
	t.Logf("camera gone 8 s: live again at the reader %v after it returned (attempts %d)",
		live.Round(time.Millisecond), g.status("back").Attempts)
	if live > 5*time.Second {
		t.Errorf("live again only %v after the camera returned, want at most 5 s (target 3 s)", live)
	}
	if err := rd.err(); err != nil {
		t.Errorf("the reader was disconnected during the outage: %v", err)
	}
	if n := rd.nonMonotonic(); n > 0 {
		t.Errorf("%d non-monotonic timestamps across the outage", n)
	}
}

func (g *gateway) status(name string) manager.Status {
	st, _ := g.Manager().Get(name)
	return st
}

// timedReader plays an RTSP stream and notes when each access unit
// arrived and its timestamp (90 kHz).
type timedReader struct {
	client *gortsplib.Client
	done   chan error

	mu    sync.Mutex
	units []timedUnit
}

type timedUnit struct {
	at  time.Time
	pts int64
}

func startTimedReader(url string) (*timedReader, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	proto := gortsplib.ProtocolTCP
	r := &timedReader{client: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}, done: make(chan error, 1)}
	if err := r.client.Start(); err != nil {
		return nil, err
	}
	if err := r.play(u); err != nil {
		r.client.Close()
		return nil, err
	}
	go func() { r.done <- r.client.Wait() }()
	return r, nil
}

func (r *timedReader) play(u *base.URL) error {
	desc, _, err := r.client.Describe(u)
	if err != nil {
		return err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return errors.New("no H.264 track")
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return err
	}
	if _, err := r.client.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return err
	}
	r.client.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		// Every packet goes through PacketPTS: its clock starts at a
		// packet that begins a keyframe, which is not the one that
		// completes a unit.
		pts, ok := r.client.PacketPTS(medi, pkt)
		if _, err := dec.Decode(pkt); err != nil || !ok {
			return // more packets needed for the unit, or no clock yet
		}
		r.mu.Lock()
		r.units = append(r.units, timedUnit{at: time.Now(), pts: pts})
		r.mu.Unlock()
	})
	_, err = r.client.Play(nil)
	return err
}

// firstFrameAfter polls for the first camera frame that arrived after t0:
// a unit one 25 fps frame after the one before it (the slate runs at
// 2 fps). It returns how long after t0 it arrived.
func (r *timedReader) firstFrameAfter(t0 time.Time, within time.Duration) (time.Duration, bool) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for i := 1; i < len(r.units); i++ {
			u := r.units[i]
			if u.at.After(t0) && u.pts-r.units[i-1].pts == 90000/25 {
				r.mu.Unlock()
				return u.at.Sub(t0), true
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	return 0, false
}

func (r *timedReader) nonMonotonic() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := 1; i < len(r.units); i++ {
		if r.units[i].pts <= r.units[i-1].pts {
			n++
		}
	}
	return n
}

// err is the reason the session ended, nil while it plays.
func (r *timedReader) err() error {
	select {
	case err := <-r.done:
		r.done <- err
		return err
	default:
		return nil
	}
}

func (r *timedReader) close() {
	r.client.Close()
	<-r.done
}

package testcam

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
)

// Reading is what a gortsplib client saw of an H.264 stream.
type Reading struct {
	Frames        int // access units received
	Width, Height int // from the SPS (SDP or in band)
	NonMonotonic  int // access units whose timestamp did not increase
	Timed         int // access units with a timestamp (the ones checked)
	// BeforeIDR counts units that arrived before the first keyframe:
	// an RTSP reader joins mid-GOP and waits for the next one.
	BeforeIDR  int
	FirstAfter time.Duration // from Read's start to the first unit
	// KeyAfter is from Read's start to the first keyframe: the first
	// picture a player can show.
	KeyAfter time.Duration
	SPS      []byte
}

// Read plays url over "tcp" or "udp" for d and reports what arrived.
func Read(url, protocol string, d time.Duration) (*Reading, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	proto := gortsplib.ProtocolTCP
	if protocol == "udp" {
		proto = gortsplib.ProtocolUDP
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}
	if err := c.Start(); err != nil {
		return nil, err
	}
	defer c.Close()
	start := time.Now()
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return nil, errors.New("no H.264 track")
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return nil, err
	}
	r := &Reading{SPS: forma.SPS}
	var mu sync.Mutex
	var last int64 = -1
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return nil, err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		// Every packet goes by the clock: gortsplib starts it on the first
		// packet of a keyframe, which never completes a frame.
		pts, ok := c.PacketPTS(medi, pkt)
		au, err := dec.Decode(pkt)
		if err != nil {
			return // rtph264.ErrMorePacketsNeeded and friends
		}
		mu.Lock()
		defer mu.Unlock()
		r.observe(au, pts, ok, &last, start)
	})
	if _, err := c.Play(nil); err != nil {
		return nil, err
	}
	select {
	case <-time.After(d):
	case err := <-waitErr(&c):
		return nil, fmt.Errorf("stream closed after %v: %w", time.Since(start), err)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	r.parseSPS()
	return r, nil
}

func waitErr(c *gortsplib.Client) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.Wait() }()
	return ch
}

func (r *Reading) observe(au [][]byte, pts int64, ok bool, last *int64, start time.Time) {
	if r.Frames == 0 {
		r.FirstAfter = time.Since(start)
	}
	if r.Frames == r.BeforeIDR {
		if h264.IsRandomAccess(au) {
			r.KeyAfter = time.Since(start)
		} else {
			r.BeforeIDR++
		}
	}
	r.Frames++
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			r.SPS = n
		}
	}
	if ok {
		r.Timed++
		if pts <= *last {
			r.NonMonotonic++
		}
		*last = pts
	}
}

func (r *Reading) parseSPS() {
	var sps h264.SPS
	if r.SPS != nil && sps.Unmarshal(r.SPS) == nil {
		r.Width, r.Height = sps.Width(), sps.Height()
	}
}

// Result is a Read's outcome, for reads run in the background.
type Result struct {
	Reading *Reading
	Err     error
}

// ReadAsync runs Read in a goroutine; its one result arrives on the
// channel when the read ends.
func ReadAsync(url, protocol string, d time.Duration) <-chan Result {
	ch := make(chan Result, 1)
	go func() {
		r, err := Read(url, protocol, d)
		ch <- Result{r, err}
	}()
	return ch
}

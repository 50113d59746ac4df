package rtsp

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/visiongate/visiongate/internal/batchconn"
)

// Direct readers: plain RTP/AVP over interleaved TCP, the transport of
// nearly every player and of all our benchmarks, is written by the path
// goroutine itself. gortsplib would queue a closure, push a ring and wake
// the reader's goroutine for every packet of every reader; here each unit
// is framed once per channel number and each reader gets one TryWrite on
// its batchconn.Conn, whose flusher sends it.
//
// gortsplib still answers the reader's requests: its session is set up on
// the path's second ServerStream (same description, never written to), so
// it never sends the reader media. What that stream would have sent, the
// fan-out sends instead: RTP with the stream's SSRC, and RTCP sender
// reports for lip sync.
//
// A reader that cannot take a unit loses it and waits for the next IDR
// (no torn pictures); one whose connection fails is closed.

const (
	// writeTimeout bounds a stuck reader's real write, here and in
	// gortsplib (the value is its default).
	writeTimeout = 10 * time.Second
	// reportPeriod is how often each direct reader gets sender reports.
	reportPeriod = 5 * time.Second
)

// frameConn is the connection a direct reader needs: the *batchconn.Conn
// the server's listener hands out.
type frameConn interface {
	TryWrite(p []byte) error
	SetWriteDeadline(t time.Time) error
	Writes() uint64
}

// directReader is one playing session written by the path goroutine.
type directReader struct {
	ss      *gortsplib.ServerSession
	conn    frameConn
	dropped *atomic.Uint64 // units it could not take (its session's count)

	// channels are the RTP channels of SETUP's answers, in order; PLAY
	// pairs them with the session's medias into byMedia.
	channels []int
	byMedia  map[*description.Media]int

	// fan is the fan-out of the stream it plays, set by the PLAY that
	// added it.
	fan *fanout

	// readyAfter is conn.Writes() just before the PLAY response is
	// written, or -1: media must not overtake the response.
	readyAfter atomic.Int64

	// The path goroutine's own.
	synced     bool // began at an IDR and lost nothing since
	failed     bool // its connection failed; its session is closing
	nextReport time.Time
	sent       map[*description.Media]*sentCount
}

type sentCount struct{ packets, octets uint32 }

// directConn returns the connection of a session that can be served
// directly, or nil.
func directConn(ctx *gortsplib.ServerHandlerOnSetupCtx) frameConn {
	t := ctx.Transport
	if t == nil || t.Protocol != gortsplib.ProtocolTCP || t.Profile != headers.TransportProfileAVP {
		return nil // UDP, multicast and SRTP stay with gortsplib
	}
	if ct := ctx.Conn.Transport(); ct != nil && ct.Tunnel != gortsplib.TunnelNone {
		return nil
	}
	fc, _ := ctx.Conn.NetConn().(frameConn)
	return fc
}

func newDirectReader(ss *gortsplib.ServerSession, conn frameConn, dropped *atomic.Uint64) *directReader {
	r := &directReader{ss: ss, conn: conn, dropped: dropped, sent: map[*description.Media]*sentCount{}}
	r.readyAfter.Store(-1)
	return r
}

// answeredSetup records the channel of a successful SETUP's response.
func (r *directReader) answeredSetup(res *base.Response) {
	var th headers.Transport
	if res.StatusCode != base.StatusOK || th.Unmarshal(res.Header["Transport"]) != nil || th.InterleavedIDs == nil {
		return
	}
	r.channels = append(r.channels, th.InterleavedIDs[0])
}

// errChannelsUnknown: a SETUP answer went by without its channel.
var errChannelsUnknown = errors.New("rtsp: interleaved channels of the session are unknown")

// pairChannels maps the session's medias, in SETUP order, to channels.
func (r *directReader) pairChannels() error {
	medias := r.ss.Medias()
	if len(medias) != len(r.channels) {
		return errChannelsUnknown
	}
	r.byMedia = make(map[*description.Media]int, len(medias))
	for i, m := range medias {
		r.byMedia[m] = r.channels[i]
	}
	return nil
}

// ready tells whether the PLAY response has gone into the connection.
func (r *directReader) ready() bool {
	after := r.readyAfter.Load()
	return after >= 0 && r.conn.Writes() > uint64(after)
}

// fanout frames each unit for the direct readers of one stream.
type fanout struct {
	ssrc  map[*description.Media]uint32
	video *description.Media
	// last is each media's latest unit, for sender reports and RTP-Info.
	// The path goroutine writes it under mu and reads it without: other
	// goroutines (PLAY responses) read it under mu.
	mu     sync.Mutex
	last   map[*description.Media]position
	frames []framed // this unit, per channel
	pkts   []*rtp.Packet
	medi   *description.Media
	report []byte // scratch
}

type unitClock struct {
	rtpTime uint32
	ntp     time.Time
}

// position is where a media's stream is: its latest unit's clock and the
// sequence number of the packet after it.
type position struct {
	clock   unitClock
	nextSeq uint16
}

type framed struct {
	channel int
	buf     []byte
}

// newFanout reads the SSRCs that st's SETUP answers announced.
func newFanout(st *gortsplib.ServerStream, video *description.Media) *fanout {
	f := &fanout{ssrc: map[*description.Media]uint32{}, video: video, last: map[*description.Media]position{}}
	for medi, ms := range st.Stats().Medias {
		for _, fs := range ms.Formats {
			f.ssrc[medi] = fs.LocalSSRC // one format per media
		}
	}
	return f
}

// send writes one unit's packets (all of one media) to the readers.
func (f *fanout) send(readers []*directReader, medi *description.Media, pkts []*rtp.Packet,
	clock unitClock, idr bool, onDrop func(*directReader), onFail func(*directReader, error)) {
	if len(pkts) == 0 {
		return
	}
	f.mu.Lock()
	f.last[medi] = position{clock: clock, nextSeq: pkts[len(pkts)-1].SequenceNumber + 1}
	f.mu.Unlock()
	f.pkts, f.medi, f.frames = pkts, medi, f.frames[:0]
	now := time.Now()
	for _, r := range readers {
		ch, ok := r.byMedia[medi]
		if !ok || r.failed || !r.ready() || !f.startable(r, medi, idr) {
			continue
		}
		buf := f.framedFor(ch)
		if rep := f.reports(r, now); len(rep) > 0 {
			f.report = append(rep, buf...) // rare: one copy every reportPeriod
			buf = f.report
		}
		r.conn.SetWriteDeadline(now.Add(writeTimeout)) //nolint:errcheck // TryWrite reports a closed conn
		switch err := r.conn.TryWrite(buf); {
		case err == nil:
			r.count(medi, pkts)
		case errors.Is(err, batchconn.ErrFull):
			r.synced = false
			onDrop(r)
		default:
			onFail(r, err)
		}
	}
}

// startable tells whether r takes this unit: a reader begins (and, after
// a loss, resumes) at an IDR, or at once when it plays no video.
func (f *fanout) startable(r *directReader, medi *description.Media, idr bool) bool {
	if r.synced {
		return true
	}
	_, hasVideo := r.byMedia[f.video]
	if hasVideo && (medi != f.video || !idr) {
		return false
	}
	r.synced = true
	r.nextReport = time.Time{} // reports first: players sync on them
	return true
}

// framedFor returns this unit's packets as interleaved frames on channel,
// marshalled once per channel however many readers use it.
func (f *fanout) framedFor(channel int) []byte {
	for _, fr := range f.frames {
		if fr.channel == channel {
			return fr.buf
		}
	}
	var buf []byte
	if n := len(f.frames); n < cap(f.frames) {
		buf = f.frames[:n+1][n].buf[:0] // reuse the scratch of an earlier unit
	}
	for _, p := range f.pkts {
		p.SSRC = f.ssrc[f.medi]
		buf = appendFrame(buf, channel, p.MarshalSize(), p.MarshalTo)
	}
	f.frames = append(f.frames, framed{channel: channel, buf: buf})
	return buf
}

// appendFrame appends an interleaved frame ('$', channel, length) whose
// payload of size n marshal writes.
func appendFrame(buf []byte, channel, n int, marshal func([]byte) (int, error)) []byte {
	off := len(buf)
	buf = append(buf, make([]byte, 4+n)...)
	buf[off], buf[off+1] = '$', byte(channel)
	binary.BigEndian.PutUint16(buf[off+2:], uint16(n))
	if _, err := marshal(buf[off+4:]); err != nil {
		return buf[:off] // cannot happen: sizes come from MarshalSize
	}
	return buf
}

// reports returns the sender reports r is due, one per media it plays
// that has sent something, in f.report's scratch.
func (f *fanout) reports(r *directReader, now time.Time) []byte {
	f.report = f.report[:0]
	if now.Before(r.nextReport) {
		return f.report
	}
	r.nextReport = now.Add(reportPeriod)
	for medi, ch := range r.byMedia {
		pos, ok := f.last[medi]
		if !ok {
			continue
		}
		clock := pos.clock
		c := r.sentFor(medi)
		sr := rtcp.SenderReport{SSRC: f.ssrc[medi], NTPTime: ntp.Encode(clock.ntp), RTPTime: clock.rtpTime,
			PacketCount: c.packets, OctetCount: c.octets}
		b, err := sr.Marshal()
		if err != nil {
			continue // cannot happen: a report without blocks
		}
		f.report = appendFrame(f.report, ch+1, len(b), func(dst []byte) (int, error) { return copy(dst, b), nil })
	}
	return f.report
}

func (r *directReader) sentFor(medi *description.Media) *sentCount {
	c := r.sent[medi]
	if c == nil {
		c = &sentCount{}
		r.sent[medi] = c
	}
	return c
}

func (r *directReader) count(medi *description.Media, pkts []*rtp.Packet) {
	c := r.sentFor(medi)
	for _, p := range pkts {
		c.packets++
		c.octets += uint32(len(p.Payload))
	}
}

// completeRTPInfo fills in the RTP-Info of a direct reader's PLAY
// response, whose medias are in SETUP order. gortsplib took it from the
// silent stream, which has sent nothing: URLs only. Players line the
// tracks up by these timestamps until the first sender reports.
func (f *fanout) completeRTPInfo(res *base.Response, medias []*description.Media, now time.Time) {
	var ri headers.RTPInfo
	if ri.Unmarshal(res.Header["RTP-Info"]) != nil || len(ri) != len(medias) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range medias {
		pos, ok := f.last[m]
		rate := m.Formats[0].ClockRate()
		if !ok || rate <= 0 {
			continue
		}
		// As gortsplib does: the RTP time of now, less 100 ms so that no
		// packet to come is dated before it.
		ts := pos.clock.rtpTime + uint32(int64(now.Sub(pos.clock.ntp).Seconds()*float64(rate))) - uint32(rate/10)
		seq := pos.nextSeq
		ri[i].SequenceNumber, ri[i].Timestamp = &seq, &ts
	}
	res.Header["RTP-Info"] = ri.Marshal()
}

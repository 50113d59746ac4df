package webrtc

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/media"
)

const (
	// pliInterval repeats the keyframe request while we wait for one: the
	// first may be lost, or come before the encoder is ready.
	pliInterval = 2 * time.Second
	// pliMinInterval spaces the requests after losses: a keyframe is
	// costly, and one in flight serves them all.
	pliMinInterval = 500 * time.Millisecond
)

// ingestSession is one WHIP publisher: a PeerConnection whose tracks
// pion hands to readers (onTrack), and a goroutine (run) that watches the
// connection and the publisher until either ends.
type ingestSession struct {
	id, etag   string
	name       string
	user, pass string
	httpRemote string // the POST's address: the remote until ICE names one
	s          *Server
	log        *slog.Logger
	offer      *ingestOffer
	ctx        context.Context // ends the session; its cause says why
	cancel     context.CancelCauseFunc
	done       chan struct{} // closed once everything is released
	release    func()        // the broker's connection slot

	// Set up before answered, read-only after.
	pc       *webrtc.PeerConnection
	ufrag    string
	answered bool // under s.ingests.mu

	connected chan struct{}
	connOnce  sync.Once
	epoch     atomic.Int64 // UnixNano of the connection: time zero of both tracks
	lastVideo atomic.Int64 // UnixNano of the last video packet
	pub       atomic.Pointer[publish.Publisher]
	published chan struct{} // closed once pub is set
	pubOnce   sync.Once

	videoSSRC  atomic.Uint32
	needKey    atomic.Bool  // frames are dropped until a keyframe
	lastPLI    atomic.Int64 // UnixNano
	videoTaken atomic.Bool
	audioTaken atomic.Bool

	lostMu sync.Mutex
	lost   *time.Timer // running while disconnected

	// readers are the track goroutines; closing refuses new ones, so
	// that finish can wait for them.
	readersMu sync.Mutex
	closing   bool
	readers   sync.WaitGroup
	endOnce   sync.Once
}

// newIngestSession counts a session for name; release gives back its
// connection slot once the session is gone (or now, on error).
func newIngestSession(s *Server, name, user, pass, remote string, o *ingestOffer,
	release func()) (*ingestSession, error) {
	ctx, cancel := context.WithCancelCause(context.Background())
	id := randomHex(16)
	sess := &ingestSession{id: id, etag: `"` + randomHex(8) + `"`, name: name, user: user, pass: pass,
		httpRemote: remote, s: s, offer: o, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		release: release, connected: make(chan struct{}), published: make(chan struct{}),
		log: s.log.With("path", name, "session", id[:8], "remote", remote)}
	sess.needKey.Store(true)
	if err := s.ingests.add(sess); err != nil {
		cancel(err)
		release()
		return nil, err
	}
	return sess, nil
}

// start answers the offer, complete with candidates, and starts the
// session; on error the session is gone.
func (w *ingestSession) start(ctx context.Context) (answer string, err error) {
	defer func() {
		if err != nil {
			w.cancel(err)
			w.finish()
		}
	}()
	cert, err := w.s.certs.get()
	if err != nil {
		return "", err
	}
	pc, err := w.s.ingestAPI.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{cert}})
	if err != nil {
		return "", err
	}
	w.pc, w.ufrag = pc, w.offer.ufrag
	pc.OnConnectionStateChange(w.onState)
	pc.OnTrack(w.onTrack)
	if answer, err = w.negotiate(ctx); err != nil {
		return "", err
	}
	w.s.ingests.answer(w)
	go w.run()
	return answer, nil
}

// negotiate answers with the chosen video codec alone, once gathering
// is complete (non-trickle: a simple client connects with it alone).
func (w *ingestSession) negotiate(ctx context.Context) (string, error) {
	pc := w.pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: w.offer.sdp}); err != nil {
		return "", &OfferError{Reason: err.Error()}
	}
	w.preferVideo()
	return answerGathered(ctx, w.ctx, pc)
}

// preferVideo narrows the video section's codecs to the one we picked;
// pion would otherwise answer all we share, and the publisher might
// switch among them.
func (w *ingestSession) preferVideo() {
	for _, t := range w.pc.GetTransceivers() {
		if t.Kind() != webrtc.RTPCodecTypeVideo || t.Mid() != w.offer.mid {
			continue
		}
		if err := t.SetCodecPreferences([]webrtc.RTPCodecParameters{w.offer.preference()}); err != nil {
			w.log.Debug("webrtc: keeping all the offered codecs", "err", err)
		}
	}
}

// onState follows the connection; it runs on pion's goroutines, so it
// only signals.
func (w *ingestSession) onState(st webrtc.PeerConnectionState) {
	w.log.Debug("webrtc: publisher connection state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		w.connOnce.Do(func() {
			now := time.Now().UnixNano()
			w.epoch.Store(now)
			w.lastVideo.Store(now)
			close(w.connected)
		})
		w.setLost(false)
	case webrtc.PeerConnectionStateDisconnected:
		w.setLost(true)
	case webrtc.PeerConnectionStateFailed:
		w.cancel(ErrConnectionLost)
	case webrtc.PeerConnectionStateClosed:
		w.cancel(errPeerClosed)
	}
}

// setLost starts or stops the countdown that ends a disconnected session.
func (w *ingestSession) setLost(lost bool) {
	w.lostMu.Lock()
	defer w.lostMu.Unlock()
	switch {
	case lost && w.lost == nil:
		w.lost = time.AfterFunc(w.s.o.DisconnectTimeout, func() { w.cancel(ErrConnectionLost) })
	case !lost && w.lost != nil:
		w.lost.Stop()
		w.lost = nil
	}
}

// run watches the session until it ends: the connection, the publisher
// (ended by the source side: takeover, source removed), the flow of
// video, and the keyframe we wait for.
func (w *ingestSession) run() {
	defer w.finish()
	if !w.waitConnected() {
		return
	}
	w.log.Info("webrtc: publisher connected", "codec", w.offer.codec, "audio", w.offer.opus)
	tick := time.NewTicker(min(time.Second, w.s.mediaTimeout/4))
	defer tick.Stop()
	published, ended := w.published, (<-chan struct{})(nil)
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-published:
			published, ended = nil, w.pub.Load().Done()
		case <-ended:
			w.cancel(w.pub.Load().Err())
			return
		case now := <-tick.C:
			if idle := now.Sub(time.Unix(0, w.lastVideo.Load())); idle >= w.s.mediaTimeout {
				w.cancel(ErrNoMedia)
				return
			}
			if w.needKey.Load() {
				w.askKeyframe(pliInterval)
			}
		}
	}
}

func (w *ingestSession) waitConnected() bool {
	t := time.NewTimer(w.s.o.ConnectTimeout)
	defer t.Stop()
	select {
	case <-w.connected:
		return true
	case <-w.ctx.Done():
	case <-t.C:
		w.cancel(ErrConnectTimeout)
	}
	return false
}

// askKeyframe sends a PLI for the video, unless one went less than
// spacing ago or the video has not started.
func (w *ingestSession) askKeyframe(spacing time.Duration) {
	ssrc := w.videoSSRC.Load()
	now, last := time.Now().UnixNano(), w.lastPLI.Load()
	if ssrc == 0 || now-last < int64(spacing) || !w.lastPLI.CompareAndSwap(last, now) {
		return
	}
	if err := w.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		w.log.Debug("webrtc: cannot ask for a keyframe", "err", err)
	}
}

// publish announces the publisher at its first keyframe, which tells the
// picture size. It returns nil when the broker refuses it (the session
// then ends) or the session is ending.
func (w *ingestSession) publish(video *media.Track) *publish.Publisher {
	if w.ctx.Err() != nil {
		return nil
	}
	a := publish.Announce{Name: w.name, Protocol: publish.WebRTC, Remote: w.remote(), User: w.user,
		Pass: w.pass, Video: video}
	if w.offer.opus {
		a.Audio = &media.Track{Codec: media.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 2}
	}
	pub, err := w.s.o.Publish.Publish(a)
	if err != nil {
		w.log.Info("webrtc: publisher refused", "err", err)
		w.cancel(err)
		return nil
	}
	w.pub.Store(pub)
	w.pubOnce.Do(func() { close(w.published) })
	w.log.Info("webrtc: publisher started", "codec", video.Codec, "width", video.Width, "height", video.Height)
	return pub
}

// remote is the publisher's address on the selected ICE pair, else the
// POST's.
func (w *ingestSession) remote() string {
	for _, r := range w.pc.GetReceivers() {
		t := r.Transport()
		if t == nil {
			continue
		}
		if p, err := t.ICETransport().GetSelectedCandidatePair(); err == nil && p != nil && p.Remote != nil {
			return net.JoinHostPort(p.Remote.Address, strconv.Itoa(int(p.Remote.Port)))
		}
	}
	return w.httpRemote
}

// finish closes the connection, waits for the track readers, ends the
// publisher and releases the session's place. It runs once, from run or
// from start.
func (w *ingestSession) finish() {
	w.endOnce.Do(func() {
		w.cancel(nil)
		w.readersMu.Lock()
		w.closing = true
		w.readersMu.Unlock()
		if w.pc != nil {
			if err := w.pc.GracefulClose(); err != nil {
				w.log.Debug("webrtc: closing", "err", err)
			}
		}
		w.readers.Wait()
		w.setLost(false)
		why := context.Cause(w.ctx)
		if pub := w.pub.Load(); pub != nil {
			pub.Close(ingestEnd(why))
		}
		w.release()
		w.s.ingests.remove(w)
		w.log.Info("webrtc: publisher session closed", "reason", why)
		close(w.done)
	})
}

// ingestEnd is the publisher's end for a session's cause: nil for a
// normal one (DELETE, a closed connection).
func ingestEnd(cause error) error {
	if errors.Is(cause, errDeleted) || errors.Is(cause, errPeerClosed) || errors.Is(cause, context.Canceled) {
		return nil
	}
	return cause
}

// end stops the session for why (DELETE, the server closing) and waits
// until it is gone, or ctx ends.
func (w *ingestSession) end(ctx context.Context, why error) {
	w.cancel(why)
	select {
	case <-w.done:
	case <-ctx.Done():
	}
}

package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/internal/recovery"
	"github.com/visiongate/visiongate/media"
)

// keyframeInterval rate-limits the keyframes a viewer's PLI and FIR ask
// for: every reader of the source pays for each.
const keyframeInterval = time.Second

// viewer is one WHEP session: a PeerConnection fed from its own hub
// reader by its goroutine (run). It wants the hub from the offer until it
// ends.
type viewer struct {
	id, etag string
	s        *Server
	p        *path
	log      *slog.Logger
	ctx      context.Context // ends the session
	cancel   context.CancelFunc
	done     chan struct{} // closed once everything is released
	release  func()        // the hub's demand

	// Set up before publish, read-only after.
	pc    *webrtc.PeerConnection
	ufrag string // the player's ICE ufrag
	video *videoSender
	audio *audioSender // nil without sound
	ready bool         // published; under p.mu

	connected chan struct{}
	connOnce  sync.Once
	lostMu    sync.Mutex
	lost      *time.Timer  // running while disconnected
	lastKey   atomic.Int64 // when RTCP last asked for a keyframe (UnixNano)
	wg        sync.WaitGroup
	endOnce   sync.Once
}

// newViewer counts a session for p and wants its hub.
func newViewer(s *Server, p *path) (*viewer, error) {
	ctx, cancel := context.WithCancel(p.Context())
	id := randomHex(16)
	v := &viewer{id: id, etag: `"` + randomHex(8) + `"`, s: s, p: p, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), connected: make(chan struct{}), release: func() {},
		log: s.log.With("path", p.name, "session", id[:8])}
	if err := p.add(v, s.o.ReadersPerSource); err != nil {
		cancel()
		return nil, err
	}
	v.release = p.hub.Want()
	return v, nil
}

// start answers the offer once the stream is known and starts sending;
// on error the session is gone.
func (v *viewer) start(ctx context.Context, o *offer) (answer string, err error) {
	defer func() {
		if err != nil {
			v.finish()
		}
	}()
	info, err := v.waitInfo(ctx)
	if err != nil {
		return "", err
	}
	if info.Codec != media.CodecH264 {
		return "", &CodecError{Stream: info.Codec}
	}
	if answer, err = v.setup(ctx, o, info); err != nil {
		return "", err
	}
	v.p.publish(v)
	go v.run()
	return answer, nil
}

// waitInfo returns the stream's description, waiting up to ReadyTimeout
// for a source that has not produced its first keyframe yet.
func (v *viewer) waitInfo(ctx context.Context) (*media.StreamInfo, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, v.s.o.ReadyTimeout, errNotReady)
	defer cancel()
	defer context.AfterFunc(v.ctx, cancel)()
	info, err := v.p.hub.WaitInfo(ctx)
	switch {
	case errors.Is(err, hub.ErrClosed) || v.ctx.Err() != nil:
		return nil, errGone
	case err != nil:
		return nil, context.Cause(ctx)
	}
	return info, nil
}

// setup makes the PeerConnection, its tracks and the answer, complete
// with candidates (non-trickle: a simple client connects with it alone).
func (v *viewer) setup(ctx context.Context, o *offer, info *media.StreamInfo) (string, error) {
	cert, err := v.s.certs.get()
	if err != nil {
		return "", err
	}
	pc, err := v.s.api.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{cert}})
	if err != nil {
		return "", err
	}
	v.pc, v.ufrag = pc, o.ufrag
	pc.OnConnectionStateChange(v.onState)
	if err := v.addTracks(o, info); err != nil {
		return "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.sdp}); err != nil {
		return "", &OfferError{Reason: err.Error()}
	}
	sdp, err := answerGathered(ctx, v.ctx, pc)
	if v.ctx.Err() != nil {
		return "", errGone
	}
	return sdp, err
}

// answerGathered answers the offer set on pc once ICE gathering is
// complete (non-trickle: a simple client connects with the answer alone),
// unless ctx or the session (life) ends first.
func answerGathered(ctx, life context.Context, pc *webrtc.PeerConnection) (string, error) {
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", &OfferError{Reason: err.Error()}
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
		return pc.LocalDescription().SDP, nil
	case <-life.Done():
		return "", context.Cause(life)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// addTracks adds the video, and the sound when the offer can carry it as
// it is, each with its RTCP reader.
func (v *viewer) addTracks(o *offer, info *media.StreamInfo) error {
	var err error
	if v.video, err = newVideoSender(o.pickH264(info.SPS), v.p.name); err != nil {
		return err
	}
	senders := []webrtc.TrackLocal{v.video.track}
	if a, f, ok := v.pickSound(o, info); ok {
		if v.audio, err = newAudioSender(f, a.Codec, v.p.name); err != nil {
			return err
		}
		senders = append(senders, v.audio.track)
	}
	for _, t := range senders {
		sender, err := v.pc.AddTrack(t)
		if err != nil {
			return err
		}
		v.readRTCP(sender)
	}
	return nil
}

// pickSound chooses the sound the viewer gets: the source's own when the
// offer carries it, else its transcoding to Opus, which then runs (once
// per source) while the viewer lives.
func (v *viewer) pickSound(o *offer, info *media.StreamInfo) (*media.AudioInfo, format, bool) {
	if f, ok := o.pickAudio(info.Audio); ok {
		return info.Audio, f, true
	}
	opus := info.AudioAs(media.CodecOpus)
	f, ok := o.pickAudio(opus)
	if !ok {
		return nil, format{}, false
	}
	videoOnly := v.release
	soundToo := v.p.hub.WantAudio(media.CodecOpus)
	v.release = func() {
		soundToo()
		videoOnly()
	}
	return opus, f, true
}

// readRTCP reads the viewer's reports, which runs the interceptors (NACK
// answers) and turns picture loss into a keyframe request.
func (v *viewer) readRTCP(sender *webrtc.RTPSender) {
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return // the connection closed
			}
			for _, pkt := range pkts {
				switch pkt.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					v.keyframeWanted()
				}
			}
		}
	}()
}

func (v *viewer) keyframeWanted() {
	now, last := time.Now().UnixNano(), v.lastKey.Load()
	if now-last >= int64(keyframeInterval) && v.lastKey.CompareAndSwap(last, now) {
		v.p.hub.RequestKeyframe()
	}
}

// onState follows the connection; it runs on pion's goroutines, so it
// only signals.
func (v *viewer) onState(st webrtc.PeerConnectionState) {
	v.log.Debug("webrtc: connection state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		v.connOnce.Do(func() { close(v.connected) })
		v.setLost(false)
	case webrtc.PeerConnectionStateDisconnected:
		v.setLost(true)
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		v.cancel()
	}
}

// setLost starts or stops the countdown that ends a disconnected session.
func (v *viewer) setLost(lost bool) {
	v.lostMu.Lock()
	defer v.lostMu.Unlock()
	switch {
	case lost && v.lost == nil:
		v.lost = time.AfterFunc(v.s.o.DisconnectTimeout, v.cancel)
	case !lost && v.lost != nil:
		v.lost.Stop()
		v.lost = nil
	}
}

// run sends the hub's units from the connection on, until the session
// ends; then it releases everything.
func (v *viewer) run() {
	defer v.finish()
	if !v.waitConnected() {
		return
	}
	r := v.p.hub.Subscribe(ringSize) // starts at the next IDR
	defer r.Close()
	v.p.hub.RequestKeyframe() // which comes now, not at the next GOP
	v.log.Info("webrtc: viewer connected")
	var errs uint64
	for {
		au, err := r.Next(v.ctx)
		if err != nil {
			return
		}
		err = recovery.Call(v.log, "webrtc sender", func() error { return v.write(au) })
		if errors.Is(err, io.ErrClosedPipe) {
			return
		}
		if err != nil {
			if errs++; errs&(errs-1) == 0 { // powers of two: no flood
				v.log.Warn("webrtc: cannot send", "err", err, "errors", errs)
			}
		}
	}
}

func (v *viewer) waitConnected() bool {
	t := time.NewTimer(v.s.o.ConnectTimeout)
	defer t.Stop()
	select {
	case <-v.connected:
		return true
	case <-v.ctx.Done():
	case <-t.C:
		v.log.Info("webrtc: viewer did not connect in time", "timeout", v.s.o.ConnectTimeout)
	}
	return false
}

func (v *viewer) write(au *media.AccessUnit) error {
	if au.Audio != nil {
		if v.audio == nil {
			return nil
		}
		return v.audio.write(au)
	}
	return v.video.write(au)
}

// finish closes the connection, waits for its goroutines and releases the
// hub and the session's place. It runs once, from run or from start.
func (v *viewer) finish() {
	v.endOnce.Do(func() {
		v.cancel()
		if v.pc != nil {
			if err := v.pc.GracefulClose(); err != nil {
				v.log.Debug("webrtc: closing", "err", err)
			}
		}
		v.wg.Wait()
		v.setLost(false)
		v.release()
		v.p.remove(v)
		v.log.Debug("webrtc: session closed")
		close(v.done)
	})
}

// end stops the session and waits until it is gone, or ctx ends.
func (v *viewer) end(ctx context.Context) {
	v.cancel()
	select {
	case <-v.done:
	case <-ctx.Done():
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

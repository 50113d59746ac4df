package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	// Named push: the tests have a func publish.
	push "github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/internal/recovery"
)

// errBadName refuses a publisher whose path is not a valid source name.
var errBadName = errors.New("rtsp: not a valid source name")

// statusConflict is HTTP's 409, which RTSP lacks: the source has a
// publisher already.
const statusConflict base.StatusCode = 409

// recordHandler is the handler of a server that takes publishers
// (Server.Publish): gortsplib offers ANNOUNCE and RECORD in OPTIONS, and
// answers them, only when its handler has these methods.
type recordHandler struct{ *handler }

func (s *Server) newHandler() gortsplib.ServerHandler {
	h := &handler{s: s}
	if s.Publish == nil {
		return h
	}
	return &recordHandler{h}
}

// recorder is the UserData of a publishing ServerSession, from its
// ANNOUNCE on. It is never a reader: OnPlay and the path's reader count
// look for *session only.
type recorder struct {
	name, remote string
	cred         push.Credentials
	video, audio *inTrack // audio may be nil
	release      func()   // gives back the Broker.Admit slot
	pub          *push.Publisher
	ended        chan struct{} // closed when the session closes
	lost         atomic.Uint64 // RTP packets lost on the way
}

func (r *recorder) tracks() []*inTrack {
	if r.audio == nil {
		return []*inTrack{r.video}
	}
	return []*inTrack{r.video, r.audio}
}

func (r *recorder) announce() push.Announce {
	a := push.Announce{Name: r.name, Protocol: push.RTSP, Remote: r.remote,
		User: r.cred.User, Pass: r.cred.Pass, Video: &r.video.Info}
	if r.audio != nil {
		a.Audio = &r.audio.Info
	}
	return a
}

// OnAnnounce checks a publisher (credentials, then the source, then its
// tracks) before it sets anything up, so that it learns at once why not.
func (h *recordHandler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	cred, res, err := h.publisherAuth(ctx.Conn, ctx.Request)
	if res != nil {
		return res, err
	}
	remote := ctx.Conn.NetConn().RemoteAddr().String()
	rec, err := h.admit(pathName(ctx.Path), cred, ctx.Description)
	if err != nil {
		h.s.cfg.log.Info("rtsp: publisher refused", "path", ctx.Path, "remote", remote, "err", err)
		return refusal(err), nil
	}
	rec.remote = remote
	ctx.Session.SetUserData(rec)
	return status(base.StatusOK), nil
}

// admit checks a publisher for name and counts its connection.
func (h *recordHandler) admit(name string, cred push.Credentials, desc *description.Session) (*recorder, error) {
	if name == "" {
		return nil, errBadName
	}
	b := h.s.Publish
	if err := b.Check(name, cred.User, cred.Pass); err != nil {
		return nil, err
	}
	rec := &recorder{name: name, cred: cred, ended: make(chan struct{})}
	// A hostile parameter set must cost this publisher, not the gateway.
	err := recovery.Call(h.s.cfg.log, "rtsp announce", func() (err error) {
		rec.video, rec.audio, err = announcedTracks(desc)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := rec.announce().Validate(); err != nil {
		return nil, err
	}
	if rec.release, err = b.Admit(push.RTSP); err != nil {
		return nil, err
	}
	return rec, nil
}

// publisherAuth finds the publish credentials a request carries (Basic
// or Digest, as the client offers): missing ones get 401 with the
// challenge, wrong ones 401 and the connection closed (gortsplib), and an
// address the Throttle blocks 503, as for readers.
func (h *handler) publisherAuth(conn *gortsplib.ServerConn, req *base.Request) (push.Credentials, *base.Response, error) {
	b := h.s.Publish
	if !b.AuthRequired() {
		return push.Credentials{}, nil, nil
	}
	if res, err := h.throttled(conn); res != nil {
		return push.Credentials{}, res, err
	}
	var given headers.Authorization
	offered := given.Unmarshal(req.Header["Authorization"]) == nil && given.Username != ""
	// Verified even when nothing was offered: that makes the Digest nonce
	// gortsplib's challenge carries.
	cred, ok := b.MatchCredentials(func(user, pass string) bool { return conn.VerifyCredentials(req, user, pass) })
	if ok && offered {
		return cred, nil, nil
	}
	if offered && h.s.Throttle != nil {
		h.s.Throttle.Fail(remoteIP(conn))
	}
	return push.Credentials{}, status(base.StatusUnauthorized), liberrors.ErrServerAuth{}
}

// OnRecord starts the publisher and feeds it the session's packets.
func (h *recordHandler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	rec, _ := ctx.Session.UserData().(*recorder)
	if rec == nil { // gortsplib allows RECORD only after an ANNOUNCE we took
		return status(base.StatusBadRequest), nil
	}
	log := h.s.cfg.log.With("path", rec.name, "remote", rec.remote)
	pub, err := h.s.Publish.Publish(rec.announce())
	if err != nil {
		log.Info("rtsp: publisher refused", "err", err)
		return refusal(err), nil
	}
	rec.pub = pub
	for _, t := range rec.tracks() {
		ctx.Session.OnPacketRTP(t.Media, t.Format, receive(ctx.Session, t, pub, log))
	}
	h.s.wg.Add(1)
	go h.s.endWith(ctx.Session, rec)
	log.Info("rtsp: publisher started", "transport", transportName(ctx.Session), "video", rec.video.Info.Codec,
		"width", rec.video.Info.Width, "height", rec.video.Info.Height, "audio", audioCodec(rec))
	return status(base.StatusOK), nil
}

func audioCodec(r *recorder) string {
	if r.audio == nil {
		return "none"
	}
	return string(r.audio.Info.Codec)
}

// receive is a track's RTP callback. gortsplib calls it from one
// goroutine at a time per session, so the track's depacketizer needs no
// lock; WritePacket never blocks the session's reading.
func receive(ss *gortsplib.ServerSession, t *inTrack, pub *push.Publisher, log *slog.Logger) func(*rtp.Packet) {
	var errs uint64
	return func(pkt *rtp.Packet) {
		pts, ok := ss.PacketPTS(t.Media, pkt)
		if !ok {
			return // before the track's first random access point
		}
		err := recovery.Call(log, "rtsp record", func() error {
			pkts, err := t.Unpack(pkt, pts)
			for _, p := range pkts {
				// It fails once the publisher has ended; the session closes then.
				_ = pub.WritePacket(p)
			}
			return err
		})
		if err != nil {
			errs++
			if errs&(errs-1) == 0 { // log on powers of two: no flood
				log.Warn("rtsp: dropping publisher packets", "codec", t.Info.Codec, "err", err, "errors", errs)
			}
		}
	}
}

// endWith closes a publishing session once its publisher ends from the
// other side: taken over, its source removed, or the gateway closing.
func (s *Server) endWith(ss *gortsplib.ServerSession, rec *recorder) {
	defer s.wg.Done()
	select {
	case <-rec.pub.Done():
		s.cfg.log.Info("rtsp: disconnecting publisher", "path", rec.name, "remote", rec.remote, "reason", rec.pub.Err())
		ss.Close()
	case <-rec.ended:
	}
}

// recordEnded ends the publisher of a closed session and gives back its
// connection slot.
func (h *handler) recordEnded(rec *recorder, err error) {
	close(rec.ended)
	rec.release()
	if rec.pub == nil {
		return
	}
	var teardown liberrors.ErrServerSessionTornDown
	if errors.As(err, &teardown) {
		err = nil // a normal end
	}
	rec.pub.Close(err)
	h.s.cfg.log.Info("rtsp: publisher left", "path", rec.name, "remote", rec.remote, "err", err,
		"dropped_packets", rec.pub.Info().Dropped(), "lost_packets", rec.lost.Load())
}

// OnPacketsLost counts a publisher's lost RTP packets; without it
// gortsplib would log every loss.
func (h *recordHandler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	if rec, ok := ctx.Session.UserData().(*recorder); ok && rec.lost.Add(ctx.Lost) == ctx.Lost {
		h.s.cfg.log.Debug("rtsp: publisher packets lost", "path", rec.name, "lost", ctx.Lost)
	}
}

// refusal answers a refused publisher with the reason in the status line,
// which ffmpeg and OBS show.
func refusal(err error) *base.Response {
	code := base.StatusInternalServerError
	var pe *ParamError
	switch {
	case errors.Is(err, push.ErrUnauthorized):
		code = base.StatusUnauthorized
	case errors.Is(err, push.ErrNoSource), errors.Is(err, errBadName):
		code = base.StatusNotFound
	case errors.Is(err, push.ErrBusy):
		code = statusConflict
	case errors.Is(err, push.ErrTooMany), errors.Is(err, push.ErrGatewayClosed):
		code = base.StatusServiceUnavailable
	case errors.Is(err, ErrNoVideo):
		code = base.StatusUnsupportedMediaType
	case errors.Is(err, push.ErrBadStream), errors.As(err, &pe):
		code = base.StatusBadRequest
	}
	return &base.Response{StatusCode: code, StatusMessage: reason(code, err)}
}

// reason is a status line's text: the usual phrase and why, on one line.
func reason(code base.StatusCode, err error) string {
	phrase := base.StatusMessages[code]
	if code == statusConflict {
		phrase = "Conflict"
	}
	why := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, err.Error())
	if len(why) > 200 {
		why = strings.ToValidUTF8(why[:200], "")
	}
	return fmt.Sprintf("%s (%s)", phrase, why)
}

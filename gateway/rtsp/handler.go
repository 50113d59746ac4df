package rtsp

import (
	"cmp"
	"errors"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// handler answers gortsplib's callbacks. It lacks OnAnnounce and OnRecord,
// which makes gortsplib refuse publishing with 501 Not Implemented;
// recordHandler adds them when the server takes publishers.
type handler struct{ s *Server }

// session is the UserData of a reading ServerSession.
type session struct {
	p         *path
	writeErrs atomic.Uint64 // packets (units, when direct) dropped for want of room
	direct    *directReader // nil: gortsplib writes its media
	// answering is the request (setupAnswer, playAnswer) whose response
	// OnResponse sees next; set by the session's goroutine before the
	// conn's goroutine writes that response.
	answering atomic.Int32
}

// What OnResponse has to do for a direct reader.
const (
	setupAnswer = iota + 1 // note its channel
	playAnswer             // start its media after this response
)

func status(code base.StatusCode) *base.Response {
	return &base.Response{StatusCode: code}
}

// Account is a user name and password that grants reading. AnyUser
// accepts Pass with any (non-empty) user name: the admin token.
type Account struct {
	User, Pass string
	AnyUser    bool
}

// Throttle counts failed logins per address and blocks addresses that
// failed too often; web.Throttle is one, shared with HTTP.
type Throttle interface {
	Blocked(ip netip.Addr) (retry time.Duration, blocked bool)
	Fail(ip netip.Addr)
}

// ErrThrottled closes the connection of an address the Throttle blocks.
var ErrThrottled = errors.New("rtsp: too many failed logins from this address")

// authorized checks a reader's credentials: a missing one gets 401 with
// the challenge, a wrong one 401 and the connection closed (gortsplib),
// and an address that failed too often 503 with Retry-After, closed too.
func (h *handler) authorized(conn *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if len(h.s.Accounts) == 0 {
		return nil, nil
	}
	if res, err := h.throttled(conn); res != nil {
		return res, err
	}
	var given headers.Authorization
	offered := given.Unmarshal(req.Header["Authorization"]) == nil && given.Username != ""
	// Verified even when nothing was offered: that makes the Digest nonce
	// gortsplib's challenge carries.
	if h.s.verify(conn, req, given.Username) && offered {
		return nil, nil
	}
	if offered && h.s.Throttle != nil {
		h.s.Throttle.Fail(remoteIP(conn))
	}
	return status(base.StatusUnauthorized), liberrors.ErrServerAuth{}
}

// throttled answers 503 with Retry-After, and closes the connection, when
// the Throttle blocks the address.
func (h *handler) throttled(conn *gortsplib.ServerConn) (*base.Response, error) {
	th := h.s.Throttle
	if th == nil {
		return nil, nil
	}
	wait, blocked := th.Blocked(remoteIP(conn))
	if !blocked {
		return nil, nil
	}
	secs := int((wait + time.Second - 1) / time.Second)
	return &base.Response{StatusCode: base.StatusServiceUnavailable,
		Header: base.Header{"Retry-After": base.HeaderValue{strconv.Itoa(secs)}}}, ErrThrottled
}

// verify checks every account (so that timing does not tell which exists).
func (s *Server) verify(conn *gortsplib.ServerConn, req *base.Request, user string) bool {
	ok := false
	for _, a := range s.Accounts {
		name := a.User
		if a.AnyUser {
			name = cmp.Or(user, "-") // gortsplib refuses to check an empty name
		}
		if conn.VerifyCredentials(req, name, a.Pass) {
			ok = true
		}
	}
	return ok
}

func remoteIP(conn *gortsplib.ServerConn) netip.Addr {
	ap, err := netip.ParseAddrPort(conn.NetConn().RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

func (h *handler) OnDescribe(
	ctx *gortsplib.ServerHandlerOnDescribeCtx,
) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.authorized(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	p := h.s.lookup(pathName(ctx.Path))
	if p == nil {
		return status(base.StatusNotFound), nil, nil
	}
	// ffplay and VLC do not retry a failed DESCRIBE, so a path whose source
	// is still starting waits for its first IDR instead of failing at once.
	st, err := p.waitStream(h.s.cfg.describeTimeout)
	switch {
	case errors.Is(err, errPathNotReady):
		return status(base.StatusServiceUnavailable), nil, nil
	case err != nil:
		return status(base.StatusNotFound), nil, nil
	}
	return status(base.StatusOK), st, nil
}

func (h *handler) OnSetup(
	ctx *gortsplib.ServerHandlerOnSetupCtx,
) (*base.Response, *gortsplib.ServerStream, error) {
	if _, ok := ctx.Session.UserData().(*recorder); ok {
		return status(base.StatusOK), nil, nil // its ANNOUNCE checked the publisher
	}
	if res, err := h.authorized(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	p := h.s.lookup(pathName(ctx.Path))
	if p == nil {
		return status(base.StatusNotFound), nil, nil
	}
	sts := p.currentStreams()
	if sts.stream == nil {
		return status(base.StatusNotFound), nil, nil
	}
	sd, _ := ctx.Session.UserData().(*session)
	if sd == nil {
		sd = &session{p: p}
		if conn := directConn(ctx); conn != nil {
			sd.direct = newDirectReader(ctx.Session, conn, &sd.writeErrs)
		}
		ctx.Session.SetUserData(sd)
	}
	st := sts.stream
	if sd.direct != nil {
		st = sts.silent
	}
	// gortsplib panics if a session's second SETUP returns another stream:
	// refuse when the path or its stream changed in between.
	if sd.p != p || (ctx.Session.Stream() != nil && ctx.Session.Stream() != st) {
		return status(base.StatusBadRequest), nil, nil
	}
	sd.answering.Store(setupAnswer)
	return status(base.StatusOK), st, nil
}

// OnResponse completes a direct reader's SETUP and PLAY from the answers
// about to be written.
func (h *handler) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	ss := sc.Session()
	if ss == nil {
		return
	}
	sd, _ := ss.UserData().(*session)
	if sd == nil || sd.direct == nil {
		return
	}
	switch sd.answering.Swap(0) {
	case setupAnswer:
		sd.direct.answeredSetup(res)
	case playAnswer:
		if res.StatusCode == base.StatusOK {
			if fan := sd.direct.fan; fan != nil {
				fan.completeRTPInfo(res, ss.Medias(), time.Now())
			}
			sd.direct.readyAfter.Store(int64(sd.direct.conn.Writes()))
		}
	}
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	sd, _ := ctx.Session.UserData().(*session)
	if sd == nil {
		return status(base.StatusNotFound), nil
	}
	if sd.direct != nil && sd.direct.byMedia == nil {
		if err := sd.direct.pairChannels(); err != nil {
			return status(base.StatusInternalServerError), err
		}
	}
	switch sd.p.addReader(ctx.Session, h.s.MaxReaders, sd.direct) {
	case readerFull:
		return status(base.StatusServiceUnavailable), nil
	case readerGone:
		return status(base.StatusNotFound), nil
	}
	sd.answering.Store(playAnswer)
	h.s.cfg.log.Debug("rtsp: reader playing", "path", sd.p.name,
		"remote", ctx.Conn.NetConn().RemoteAddr().String(), "transport", transportName(ctx.Session))
	return status(base.StatusOK), nil
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if rec, ok := ctx.Session.UserData().(*recorder); ok {
		h.recordEnded(rec, ctx.Error)
		return
	}
	sd, _ := ctx.Session.UserData().(*session)
	if sd == nil {
		return
	}
	sd.p.removeReader(ctx.Session)
	h.s.cfg.log.Debug("rtsp: reader left", "path", sd.p.name, "err", ctx.Error,
		"dropped_packets", sd.writeErrs.Load())
}

// OnStreamWriteError is called for every packet a reader's full queue
// refuses; without it gortsplib would log each one.
func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	sd, _ := ctx.Session.UserData().(*session)
	if sd == nil {
		return
	}
	if sd.writeErrs.Add(1) == 1 {
		h.s.cfg.log.Warn("rtsp: reader too slow, dropping packets", "path", sd.p.name, "err", ctx.Error)
	}
}

// OnDecodeError silences gortsplib's default logging of bad RTCP from readers.
func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	h.s.cfg.log.Debug("rtsp: decode error", "err", ctx.Error)
}

func transportName(ss *gortsplib.ServerSession) string {
	if t := ss.Transport(); t != nil {
		return t.Protocol.String()
	}
	return ""
}

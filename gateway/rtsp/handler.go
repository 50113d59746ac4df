package rtsp

import (
	"errors"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// handler answers gortsplib's callbacks. Not implementing OnAnnounce and
// OnRecord makes gortsplib refuse publishing with 501 Not Implemented.
type handler struct{ s *Server }

// session is the UserData of a reading ServerSession.
type session struct {
	p         *path
	writeErrs atomic.Uint64 // packets dropped because its queue was full
}

func status(code base.StatusCode) *base.Response {
	return &base.Response{StatusCode: code}
}

// authorized checks read credentials; a wrong or missing one gets 401
// (gortsplib adds the challenge, and closes connections that guess wrong).
func (h *handler) authorized(conn *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if h.s.ReadUser == "" || conn.VerifyCredentials(req, h.s.ReadUser, h.s.ReadPass) {
		return nil, nil
	}
	return status(base.StatusUnauthorized), liberrors.ErrServerAuth{}
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
	if res, err := h.authorized(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	p := h.s.lookup(pathName(ctx.Path))
	if p == nil {
		return status(base.StatusNotFound), nil, nil
	}
	st := p.currentStream()
	if st == nil {
		return status(base.StatusNotFound), nil, nil
	}
	// gortsplib panics if a session's second SETUP returns another stream:
	// refuse when the path or its stream changed in between.
	prev, _ := ctx.Session.UserData().(*session)
	if (prev != nil && prev.p != p) || (ctx.Session.Stream() != nil && ctx.Session.Stream() != st) {
		return status(base.StatusBadRequest), nil, nil
	}
	if prev == nil {
		ctx.Session.SetUserData(&session{p: p})
	}
	return status(base.StatusOK), st, nil
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	sd, _ := ctx.Session.UserData().(*session)
	if sd == nil {
		return status(base.StatusNotFound), nil
	}
	switch sd.p.addReader(ctx.Session, h.s.MaxReaders) {
	case readerFull:
		return status(base.StatusServiceUnavailable), nil
	case readerGone:
		return status(base.StatusNotFound), nil
	}
	h.s.cfg.log.Debug("rtsp: reader playing", "path", sd.p.name,
		"remote", ctx.Conn.NetConn().RemoteAddr().String(), "transport", transportName(ctx.Session))
	return status(base.StatusOK), nil
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
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

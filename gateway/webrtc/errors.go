package webrtc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/visiongate/visiongate/media"
)

// ErrNoTransport is New's error when both UDP and TCP are off.
var ErrNoTransport = errors.New("webrtc: UDP and TCP are both off: no way to carry media")

// ListenError says a listener could not be opened.
type ListenError struct {
	Transport, Addr string
	Err             error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("webrtc: cannot listen on %s %s: %v", e.Transport, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// HostsError says the additional hosts cannot become candidates.
type HostsError struct {
	Hosts []string
	Err   error
}

func (e *HostsError) Error() string {
	return fmt.Sprintf("webrtc: additional hosts %s: %v", strings.Join(e.Hosts, ", "), e.Err)
}

func (e *HostsError) Unwrap() error { return e.Err }

// OfferError is a malformed or unusable offer (400).
type OfferError struct{ Reason string }

func (e *OfferError) Error() string { return "webrtc: bad offer: " + e.Reason }

// CodecError says the offer and the stream share no video codec (400):
// the offer has no H.264 that allows fragments, or the stream is not
// H.264.
type CodecError struct {
	Stream  media.Codec // set when the stream is the cause
	Offered []string
}

func (e *CodecError) Error() string {
	if e.Stream != "" {
		return fmt.Sprintf("webrtc: no common codec: the stream is %s, and WebRTC plays H.264 only", e.Stream)
	}
	return fmt.Sprintf("webrtc: no common codec: the stream is H.264 and the offer has no H.264 "+
		"with packetization-mode=1 (offered: %s)", orNone(e.Offered))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Reasons a session cannot start or be found, answered by status.
var (
	errUnknownSource = errors.New("webrtc: unknown source")
	errGone          = errors.New("webrtc: source detached or ended")
	errNotReady      = errors.New("webrtc: stream not ready yet")
	errFull          = errors.New("webrtc: too many viewers for this source")
	errNoSession     = errors.New("webrtc: unknown session")
	errRestart       = errors.New("webrtc: ICE restart is not supported: start a new session")
	errETag          = errors.New("webrtc: If-Match does not match the session's ETag")
)

package srt

import (
	"fmt"
	"strings"

	"github.com/visiongate/visiongate/gateway/config"
)

// streamID is what a caller's SRT streamid asks for.
type streamID struct{ Name, User, Pass string }

// maxStreamID is libsrt's limit on SRTO_STREAMID.
const maxStreamID = 512

// accessControlPrefix starts libsrt's key=value streamid syntax.
const accessControlPrefix = "#!::"

// parseStreamID reads the forms MediaMTX's publishers use:
//
//	publish:NAME
//	publish:NAME:USER:PASS
//	#!::r=NAME,m=publish[,u=USER,s=PASS]
//
// ErrNotPublish refuses readers; ErrStreamID anything else malformed.
func parseStreamID(raw string) (streamID, error) {
	if raw == "" || len(raw) > maxStreamID {
		return streamID{}, fmt.Errorf("%w: empty or longer than %d bytes", ErrStreamID, maxStreamID)
	}
	var id streamID
	var err error
	if rest, ok := strings.CutPrefix(raw, accessControlPrefix); ok {
		id, err = parseAccessControl(rest)
	} else {
		id, err = parseColons(raw)
	}
	if err != nil {
		return streamID{}, err
	}
	if !config.ValidName(id.Name) {
		return streamID{}, fmt.Errorf("%w: %q is not a source name", ErrStreamID, id.Name)
	}
	return id, nil
}

func parseColons(raw string) (streamID, error) {
	parts := strings.SplitN(raw, ":", 5)
	switch {
	case parts[0] == "read":
		return streamID{}, fmt.Errorf("%w: %q", ErrNotPublish, "read")
	case parts[0] != "publish":
		return streamID{}, fmt.Errorf("%w: want publish:NAME or publish:NAME:USER:PASS", ErrStreamID)
	case len(parts) == 2:
		return streamID{Name: parts[1]}, nil
	case len(parts) == 4:
		return streamID{Name: parts[1], User: parts[2], Pass: parts[3]}, nil
	}
	return streamID{}, fmt.Errorf("%w: %d fields, want publish:NAME or publish:NAME:USER:PASS", ErrStreamID, len(parts))
}

// parseAccessControl reads libsrt's r (resource), m (mode), u (user) and
// s keys, s holding the password as in MediaMTX. Other keys (h, t, ...)
// are ignored, as that syntax asks.
func parseAccessControl(s string) (streamID, error) {
	var id streamID
	mode := "request" // the syntax's default
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return streamID{}, fmt.Errorf("%w: %q is not key=value", ErrStreamID, kv)
		}
		switch k {
		case "r":
			id.Name = v
		case "m":
			mode = v
		case "u":
			id.User = v
		case "s":
			id.Pass = v
		}
	}
	if mode != "publish" {
		return streamID{}, fmt.Errorf("%w: mode %q", ErrNotPublish, mode)
	}
	return id, nil
}

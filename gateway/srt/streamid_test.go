package srt

import (
	"errors"
	"strings"
	"testing"

	"github.com/visiongate/visiongate/gateway/config"
)

var streamIDCases = []struct {
	raw  string
	want streamID
	err  error
}{
	{"publish:cam", streamID{Name: "cam"}, nil},
	{"publish:cam-1_B:alice:s3cret", streamID{Name: "cam-1_B", User: "alice", Pass: "s3cret"}, nil},
	{"publish:cam::", streamID{Name: "cam"}, nil},
	{"publish:cam:alice:p=ss,word", streamID{Name: "cam", User: "alice", Pass: "p=ss,word"}, nil},
	{"#!::r=cam,m=publish", streamID{Name: "cam"}, nil},
	{"#!::m=publish,r=cam,u=alice,s=s:e=c", streamID{Name: "cam", User: "alice", Pass: "s:e=c"}, nil},
	{"#!::h=host,r=cam,m=publish,t=stream,x=y", streamID{Name: "cam"}, nil},
	{"", streamID{}, ErrStreamID},
	{strings.Repeat("a", maxStreamID+1), streamID{}, ErrStreamID},
	{"cam", streamID{}, ErrStreamID},
	{"publish", streamID{}, ErrStreamID},
	{"publish:", streamID{}, ErrStreamID},
	{"publish:cam:alice", streamID{}, ErrStreamID},
	{"publish:cam:alice:pass:query", streamID{}, ErrStreamID},
	{"publish:cam/x", streamID{}, ErrStreamID},
	{"publish:" + strings.Repeat("a", 65), streamID{}, ErrStreamID},
	{"Publish:cam", streamID{}, ErrStreamID},
	{"play:cam", streamID{}, ErrStreamID},
	{"read:cam", streamID{}, ErrNotPublish},
	{"read:cam:alice:s3cret", streamID{}, ErrNotPublish},
	{"#!::r=cam", streamID{}, ErrNotPublish},
	{"#!::r=cam,m=request", streamID{}, ErrNotPublish},
	{"#!::r=cam,m=bidirectional", streamID{}, ErrNotPublish},
	{"#!::r=cam,m=publish,junk", streamID{}, ErrStreamID},
	{"#!::", streamID{}, ErrStreamID},
	{"#!::m=publish", streamID{}, ErrStreamID},
	{"#!::r=,m=publish", streamID{}, ErrStreamID},
	{"#!:{r=cam,m=publish}", streamID{}, ErrStreamID},
}

func TestParseStreamID(t *testing.T) {
	for _, tc := range streamIDCases {
		got, err := parseStreamID(tc.raw)
		if !errors.Is(err, tc.err) || got != tc.want || (err == nil) != (tc.err == nil) {
			t.Errorf("parseStreamID(%q) = %+v, %v; want %+v, %v", tc.raw, got, err, tc.want, tc.err)
		}
	}
}

// FuzzParseStreamID: no panic; a typed error or a valid name; the colon
// form of what was parsed parses back to the same.
func FuzzParseStreamID(f *testing.F) {
	for _, tc := range streamIDCases {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := parseStreamID(raw)
		if err != nil {
			if !errors.Is(err, ErrStreamID) && !errors.Is(err, ErrNotPublish) {
				t.Fatalf("untyped error %v", err)
			}
			if id != (streamID{}) {
				t.Fatalf("error %v with %+v", err, id)
			}
			return
		}
		if !config.ValidName(id.Name) {
			t.Fatalf("invalid name %q accepted", id.Name)
		}
		if strings.Contains(id.User+id.Pass, ":") {
			return // only the key=value form carries colons
		}
		back, err := parseStreamID("publish:" + id.Name + ":" + id.User + ":" + id.Pass)
		if err != nil || back != id {
			t.Fatalf("%+v formats back to %+v, %v", id, back, err)
		}
	})
}

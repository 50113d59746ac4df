package config

import (
	"errors"
	"strings"
	"testing"
)

// lavfiCases: the graphs of issue 13 that wrote and read local files, the
// ways around a name check, and the synthetic sources that must keep
// working.
var lavfiCases = []struct {
	graph string
	ok    bool
}{
	{"testsrc2", true},
	{"testsrc2=size=640x360:rate=25", true},
	{"testsrc2=s=1280x720:r=30000/1001:d=10:sar=1/1:alpha=128", true},
	{"testsrc=size=320x240:rate=25:decimals=2:duration=2.5", true},
	{"smptehdbars=size=1920x1080:rate=30", true},
	{"smptebars", true},
	{"rgbtestsrc=co=1", true},
	{"yuvtestsrc=d=500ms", true},
	{"pal75bars", true},
	{"pal100bars", true},
	{"colorspectrum=type=1:size=640x360", true},
	{"color=c=red@0.5:size=64x64", true},
	{"color=color=0x102030:s=64x64", true},
	{"mandelbrot=size=640x480:rate=10:maxiter=500:start_scale=3", true},
	{"life=size=320x240:rule=B3/S23:ratio=0.5:seed=7:life_color=green", true},
	{"cellauto=rule=110:size=320x240:full=1", true},
	{"nullsrc=s=16x16", true},
	// issue 13: a second filter writes a file, another reads one
	{"testsrc,metadata=mode=print:file=/tmp/pwned", false},
	{"testsrc2,drawtext=textfile=/etc/passwd", false},
	{"testsrc;movie=/etc/passwd", false},
	{"movie=/etc/passwd", false},
	{"amovie=/etc/passwd", false},
	{"sws_flags=bicubic;testsrc2", false},
	{"[in]testsrc2[out]", false},
	{"testsrc2@x=size=64x64", false},
	{"life=filename=/etc/passwd", false},
	{"life=f=/etc/passwd", false},
	{"life=/etc/passwd", false}, // positional: the first option is filename
	{"cellauto=pattern=101", false},
	{"cellauto=p=101", false},
	{"testsrc2=size=64x64:size='a\\,b'", false},
	{"testsrc2=size=64x64:rate=25,drawtext=text=x", false},
	{"testsrc2=size=9000x64", false},
	{"testsrc2=size=0x64", false},
	{"testsrc2=size=hd720", false},
	{"testsrc2=rate=1000", false},
	{"testsrc2=rate=0", false},
	{"testsrc2=rate=25/0", false},
	{"testsrc2=d=99999999", false},
	{"testsrc2=alpha=300", false},
	{"testsrc2=foo=1", false},
	{"testsrc2=size", false},
	{"testsrc2=", true},            // no options
	{"sine=frequency=1000", false}, // audio only: no video track
	{"mandelbrot=maxiter=100000000", false},
	{"color=c=red:c=%2e", false},
	{"TESTSRC2", false},
	{"testsrc2 ", false},
}

func TestLavfiAllowList(t *testing.T) {
	for _, c := range lavfiCases {
		t.Run(c.graph, func(t *testing.T) {
			u, err := ParseSourceURL("lavfi:"+c.graph, true)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if u.Kind != KindLavfi || u.Input != c.graph || u.Whitelist != "none" {
					t.Fatalf("got %+v", u)
				}
				return
			}
			if !errors.Is(err, ErrURLLavfi) && !errors.Is(err, ErrURLForm) {
				t.Fatalf("accepted (err = %v)", err)
			}
		})
	}
}

// The same rule holds in the config file and through the API, on "url".
func TestLavfiRefusedInConfigAndAPI(t *testing.T) {
	bad := "lavfi:testsrc,metadata=mode=print:file=/tmp/x"
	_, err := Parse([]byte("allow_local_sources: true\nsources:\n  - {name: a, url: '" + bad + "'}\n"))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "sources[0].url" || !strings.Contains(ve.Reason, "one source filter") {
		t.Fatalf("config file: err = %v, want sources[0].url refusing the chain", err)
	}
	c := &Config{APILocalSources: true}
	err = c.ValidateAPISource(&Source{Name: "a", URL: bad}, nil)
	if !errors.As(err, &ve) || ve.Field != "url" {
		t.Fatalf("API: err = %v, want a ValidationError on url", err)
	}
}

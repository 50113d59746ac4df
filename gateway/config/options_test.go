package config

import (
	"errors"
	"testing"
)

// Issue 13 item 1, "any other libav option a user can pass": udp and srt
// take query parameters as libav options, v4l2 and file URLs are turned
// into options; each has an allow-list with bounds.
var optionCases = []struct {
	url string
	ok  bool
}{
	{"udp://239.0.0.1:1234", true},
	{"udp://239.0.0.1:1234?fifo_size=50000&overrun_nonfatal=1&timeout=5000000", true},
	{"udp://239.0.0.1:1234?sources=10.0.0.1,10.0.0.2&buffer_size=1048576", true},
	{"udp://239.0.0.1:1234?fifo_size=2147483647", false}, // 400 GB of buffer
	{"udp://239.0.0.1:1234?buffer_size=-1", false},
	{"udp://127.0.0.1:1234?localaddr=0.0.0.0", false},
	{"udp://127.0.0.1:1234?localport=53", false},
	{"udp://127.0.0.1:1234?connect=1", false},
	{"udp://127.0.0.1:1234?ttl=255", false},
	{"udp://127.0.0.1:1234?fifo_size=1#&localaddr=0.0.0.0", false}, // libav reads past '#'
	{"udp://127.0.0.1:1234?fifo_size=1&fifo_size=2", false},
	{"udp://127.0.0.1:1234?sources=evil.example", false},
	{"srt://h:9000?mode=caller&latency=200000&streamid=%23!::r=cam,m=request", true},
	{"srt://h:9000?passphrase=0123456789&pbkeylen=16", true},
	{"srt://h:9000?mode=listener", false},
	{"srt://h:9000?mode=rendezvous", false},
	{"srt://h:9000?passphrase=short", false},
	{"srt://h:9000?rcvbuf=2147483647", false},
	{"srt://h:9000?latency=99999999999", false},
	{"rtsp://cam/Streaming/101?transportmode=unicast&profile=Profile_1", true}, // to the camera
	{"https://h/live.m3u8?token=abc", true},
	{"v4l2:///dev/video0?size=1280x720&fps=30&format=mjpeg", true},
	{"v4l2:///dev/video0?format=h264", true},
	{"v4l2:///dev/video0?format=../../etc", false},
	{"v4l2:///dev/video0?fps=NaN", false},
	{"v4l2:///dev/video0?fps=1e3", false},
	{"v4l2:///dev/video0?fps=0", false},
	{"v4l2:///dev/video0?size=100000x1", false},
	{"v4l2:///dev/video0?standard=PAL", false},
	{"v4l2:///dev/video0?size=640x480&size=1280x720", false},
	{"file:///srv/a.mp4?loop=false", true},
	{"file:///srv/a.mp4?loop=maybe", false},
	{"file:///srv/a.mp4?seek=10", false},
}

func TestSourceURLOptions(t *testing.T) {
	for _, c := range optionCases {
		t.Run(c.url, func(t *testing.T) {
			_, err := ParseSourceURL(c.url, true)
			switch {
			case c.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !c.ok && err == nil:
				t.Fatal("accepted")
			case !c.ok && !errors.Is(err, ErrURLOption) && !errors.Is(err, ErrURLForm):
				t.Fatalf("err = %v, want ErrURLOption", err)
			}
		})
	}
}

func TestV4L2OptionsMapping(t *testing.T) {
	u, err := ParseSourceURL("v4l2:///dev/video2?size=640x480&fps=15&format=yuyv422", true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"video_size": "640x480", "framerate": "15", "input_format": "yuyv422"}
	if len(u.Options) != len(want) {
		t.Fatalf("options %v", u.Options)
	}
	for k, v := range want {
		if u.Options[k] != v {
			t.Fatalf("options %v, want %v", u.Options, want)
		}
	}
}

package output

import (
	"slices"
	"testing"
)

type recorder struct {
	protocol string
	readers  int
	urls     map[string]string
	calls    *[]string
}

func (r recorder) Protocol() string              { return r.protocol }
func (r recorder) Attach(s Source)               { *r.calls = append(*r.calls, "attach "+r.protocol+" "+s.Name) }
func (r recorder) Detach(name string)            { *r.calls = append(*r.calls, "detach "+r.protocol+" "+name) }
func (r recorder) Readers(string) int            { return r.readers }
func (r recorder) URLs(string) map[string]string { return r.urls }

// The registry attaches in order, detaches in reverse, adds up readers by
// protocol and merges URLs.
func TestRegistry(t *testing.T) {
	var calls []string
	r := NewRegistry(
		recorder{"rtsp", 2, map[string]string{"rtsp": "rtsp://h/a"}, &calls},
		recorder{"mjpeg", 1, map[string]string{"mjpeg": "m", "snapshot": "s"}, &calls},
	)
	r.Attach(Source{Name: "a"})
	r.Detach("a")
	if want := []string{"attach rtsp a", "attach mjpeg a", "detach mjpeg a", "detach rtsp a"}; !slices.Equal(calls, want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	if got := r.Readers("a"); got["rtsp"] != 2 || got["mjpeg"] != 1 || len(got) != 2 {
		t.Errorf("readers %v", got)
	}
	if got := r.URLs("a"); len(got) != 3 || got["snapshot"] != "s" || got["rtsp"] != "rtsp://h/a" {
		t.Errorf("urls %v", got)
	}
}

func TestHostPort(t *testing.T) {
	for _, c := range []struct{ public, listen, want string }{
		{"", "0.0.0.0:8554", "127.0.0.1:8554"},
		{"", "[::]:8080", "127.0.0.1:8080"},
		{"", ":8080", "127.0.0.1:8080"},
		{"", "10.0.0.2:8554", "10.0.0.2:8554"},
		{"cams.example", "0.0.0.0:8554", "cams.example:8554"},
		{"", "garbage", "garbage"},
	} {
		if got := HostPort(c.public, c.listen); got != c.want {
			t.Errorf("HostPort(%q, %q) = %q, want %q", c.public, c.listen, got, c.want)
		}
	}
}

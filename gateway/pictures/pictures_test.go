package pictures

import (
	"testing"

	"github.com/visiongate/visiongate/gateway/mjpeg"
	"github.com/visiongate/visiongate/gateway/output"
)

// The pictures output serves what is attached, counts MJPEG viewers (not
// snapshots), gives both URLs and forgets a detached source.
func TestPicturesOutput(t *testing.T) {
	o := &Output{BaseURL: func() string { return "http://h:8080" }}
	h := mjpeg.New()
	o.Attach(output.Source{Name: "cam", Pictures: h})
	o.Attach(output.Source{Name: "none"}) // no pictures: nothing to serve
	if got, ok := o.JPEG("cam"); !ok || got != h {
		t.Fatal("attached hub not served")
	}
	if _, ok := o.JPEG("none"); ok {
		t.Error("a source without pictures is served")
	}
	v := h.Subscribe(0)
	if n := o.Readers("cam"); n != 1 {
		t.Errorf("readers %d with one viewer", n)
	}
	v.Close()
	urls := o.URLs("cam")
	if urls["mjpeg"] != "http://h:8080/mjpeg/cam" || urls["snapshot"] != "http://h:8080/snapshot/cam.jpg" || len(urls) != 2 {
		t.Errorf("urls %v", urls)
	}
	o.Detach("cam")
	if _, ok := o.JPEG("cam"); ok || o.Readers("cam") != 0 {
		t.Error("a detached source is still served")
	}
}

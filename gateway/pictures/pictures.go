// Package pictures is the MJPEG and snapshot output: it knows each
// attached source's JPEG hub, counts its MJPEG viewers and gives the web
// routes the hub to serve from.
package pictures

import (
	"sync"

	"github.com/visiongate/visiongate/gateway/mjpeg"
	"github.com/visiongate/visiongate/gateway/output"
)

// Output implements output.Output for /mjpeg/NAME and /snapshot/NAME.jpg.
type Output struct {
	// BaseURL returns the HTTP base ("http://host:port") for URLs.
	BaseURL func() string

	mu   sync.Mutex
	hubs map[string]*mjpeg.Hub
}

// Protocol is "mjpeg": snapshots are one-shot and not counted as readers.
func (o *Output) Protocol() string { return "mjpeg" }

// Attach serves s's pictures.
func (o *Output) Attach(s output.Source) {
	if s.Pictures == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.hubs == nil {
		o.hubs = map[string]*mjpeg.Hub{}
	}
	o.hubs[s.Name] = s.Pictures
}

// Detach stops serving name; its viewers end when its hub closes.
func (o *Output) Detach(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.hubs, name)
}

// Readers counts name's MJPEG viewers.
func (o *Output) Readers(name string) int {
	if h, ok := o.JPEG(name); ok {
		return h.Viewers()
	}
	return 0
}

// URLs are name's MJPEG stream and snapshot.
func (o *Output) URLs(name string) map[string]string {
	base := o.BaseURL()
	return map[string]string{"mjpeg": base + "/mjpeg/" + name, "snapshot": base + "/snapshot/" + name + ".jpg"}
}

// JPEG returns name's JPEG hub, for the web routes.
func (o *Output) JPEG(name string) (*mjpeg.Hub, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h, ok := o.hubs[name]
	return h, ok
}

// Package output is what every way of watching a source implements (RTSP,
// LL-HLS, MJPEG and snapshots today; WebRTC and a recorder next), and the
// registry through which the manager and the status know them. Adding an
// output is one more implementation registered by the app, nothing else.
package output

import (
	"maps"
	"net"

	"github.com/visiongate/visiongate/gateway/hub"
	"github.com/visiongate/visiongate/gateway/mjpeg"
)

// Source is what an output attaches to: one source's encoded units and
// its JPEG pictures. An output takes what it can carry.
type Source struct {
	Name     string
	Units    *hub.Hub
	Pictures *mjpeg.Hub
}

// Output serves attached sources to its clients.
type Output interface {
	// Protocol names the output in the status's readers ("rtsp").
	Protocol() string
	// Attach starts serving s under s.Name; attaching the same source
	// again keeps its clients.
	Attach(s Source)
	// Detach stops serving name and returns once its clients are gone.
	Detach(name string)
	// Readers counts the clients of name now.
	Readers(name string) int
	// URLs are where name can be watched through this output, by kind
	// ("rtsp", or "mjpeg" and "snapshot").
	URLs(name string) map[string]string
}

// Registry holds the outputs in the order they attach; the zero value has
// none. It is fixed once built, so reads need no lock.
type Registry struct{ outputs []Output }

// NewRegistry returns a registry of outs.
func NewRegistry(outs ...Output) *Registry { return &Registry{outputs: outs} }

// Attach attaches s to every output.
func (r *Registry) Attach(s Source) {
	for _, o := range r.outputs {
		o.Attach(s)
	}
}

// Detach detaches name from every output, in reverse order.
func (r *Registry) Detach(name string) {
	for i := len(r.outputs) - 1; i >= 0; i-- {
		r.outputs[i].Detach(name)
	}
}

// Readers counts name's clients per protocol.
func (r *Registry) Readers(name string) map[string]int {
	n := make(map[string]int, len(r.outputs))
	for _, o := range r.outputs {
		n[o.Protocol()] += o.Readers(name)
	}
	return n
}

// URLs collects name's URLs from every output.
func (r *Registry) URLs(name string) map[string]string {
	urls := map[string]string{}
	for _, o := range r.outputs {
		maps.Copy(urls, o.URLs(name))
	}
	return urls
}

// HostPort is the host:port clients should use for a listener: the public
// host when one is configured, loopback for a listener on every interface.
func HostPort(publicHost, listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if publicHost != "" {
		host = publicHost
	} else if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

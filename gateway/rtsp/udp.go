package rtsp

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/bluenviron/gortsplib/v5"
)

// ErrNoUDPPair is returned by Start when no free even/odd UDP port pair
// could be bound for a port-0 UDPRTPAddress.
var ErrNoUDPPair = errors.New("rtsp: no free consecutive UDP port pair")

// udpPair holds listeners bound before gortsplib starts. gortsplib insists
// on fixed, consecutive even/odd ports and cannot bind port 0 itself, so for
// a dynamic pair we bind it here and hand the sockets over through
// gortsplib.Server.ListenPacket, leaving no window for another process to
// take the ports.
type udpPair struct {
	mu        sync.Mutex
	rtp, rtcp net.PacketConn
}

// configureUDP fills srv's UDP fields from the Server's; the returned pair
// must be released with closeUnused once srv.Start has returned.
func configureUDP(srv *gortsplib.Server, rtpAddr, rtcpAddr string) (*udpPair, error) {
	pair := &udpPair{}
	if rtpAddr == "" && rtcpAddr == "" {
		return pair, nil // UDP disabled
	}
	host, port, err := net.SplitHostPort(rtpAddr)
	if err != nil {
		return nil, fmt.Errorf("rtsp: UDPRTPAddress %q: %w", rtpAddr, err)
	}
	if port != "0" || !dynamicRTCP(rtcpAddr) {
		srv.UDPRTPAddress, srv.UDPRTCPAddress = rtpAddr, rtcpAddr // gortsplib validates
		return pair, nil
	}
	if err := pair.bind(host); err != nil {
		return nil, err
	}
	srv.UDPRTPAddress = pair.rtp.LocalAddr().String()
	srv.UDPRTCPAddress = pair.rtcp.LocalAddr().String()
	srv.ListenPacket = pair.listenPacket
	return pair, nil
}

func dynamicRTCP(addr string) bool {
	if addr == "" {
		return true
	}
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// bind finds an even port P on host with P+1 also free.
func (u *udpPair) bind(host string) error {
	network := "udp"
	if host == "0.0.0.0" {
		network = "udp4" // as gortsplib does for this address
	}
	listen := func(port int) (net.PacketConn, error) {
		return net.ListenPacket(network, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	for range 100 {
		a, err := listen(0)
		if err != nil {
			return fmt.Errorf("rtsp: UDP listen on %q: %w", host, err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		other := port + 1
		if port%2 == 1 {
			other = port - 1
		}
		b, err := listen(other)
		if err != nil {
			a.Close()
			continue
		}
		if port%2 == 0 {
			u.rtp, u.rtcp = a, b
		} else {
			u.rtp, u.rtcp = b, a
		}
		return nil
	}
	return ErrNoUDPPair
}

// listenPacket gives gortsplib the pre-bound sockets for their addresses.
func (u *udpPair) listenPacket(network, address string) (net.PacketConn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range []*net.PacketConn{&u.rtp, &u.rtcp} {
		if *c != nil && (*c).LocalAddr().String() == address {
			pc := *c
			*c = nil
			return pc, nil
		}
	}
	return net.ListenPacket(network, address)
}

// closeUnused closes sockets gortsplib did not take (it failed to start).
func (u *udpPair) closeUnused() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range []net.PacketConn{u.rtp, u.rtcp} {
		if c != nil {
			c.Close()
		}
	}
	u.rtp, u.rtcp = nil, nil
}

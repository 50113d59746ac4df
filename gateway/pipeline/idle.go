package pipeline

import "github.com/asticode/go-astiav"

// Bounds of the packets kept while not decoding: a camera with a very long
// GOP loses its catch-up and waits for its next keyframe instead.
const (
	idleMaxPackets = 600
	idleMaxBytes   = 64 << 20
)

// idleGOP keeps the packets since the last keyframe while nobody needs
// frames, so a first reader's frames start at once: the decoder catches up
// from the keyframe instead of waiting for the camera's next one.
type idleGOP struct {
	pkts  []*astiav.Packet
	bytes int
	// broken: the GOP outgrew the bounds; keep nothing until a keyframe.
	broken bool
}

// keep adds a reference to pkt; a keyframe starts a new GOP.
func (g *idleGOP) keep(pkt *astiav.Packet) {
	if pkt.Flags().Has(astiav.PacketFlagKey) {
		g.clear()
		g.broken = false
	}
	if g.broken || len(g.pkts) == 0 && !pkt.Flags().Has(astiav.PacketFlagKey) {
		return // nothing decodable to keep before a keyframe
	}
	if len(g.pkts) >= idleMaxPackets || g.bytes+pkt.Size() > idleMaxBytes {
		g.clear()
		g.broken = true
		return
	}
	if c := pkt.Clone(); c != nil {
		g.pkts = append(g.pkts, c)
		g.bytes += pkt.Size()
	}
}

// take hands the kept packets to the caller, who frees them.
func (g *idleGOP) take() []*astiav.Packet {
	pkts := g.pkts
	g.pkts, g.bytes = nil, 0
	return pkts
}

func (g *idleGOP) clear() {
	for _, p := range g.pkts {
		p.Free()
	}
	g.pkts, g.bytes = nil, 0
}

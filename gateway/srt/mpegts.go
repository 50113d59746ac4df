package srt

import "fmt"

// MPEG-TS packets are 188 bytes, each starting with the sync byte.
const (
	tsPacketSize = 188
	tsSync       = 0x47
)

// checkTS tells whether an SRT payload looks like MPEG-TS: whole packets,
// each with its sync byte. Senders put 7 packets (1316 bytes) in each SRT
// packet, and SRT drops whole payloads, so every payload is aligned even
// after a loss.
func checkTS(b []byte) error {
	if len(b) == 0 || len(b)%tsPacketSize != 0 {
		return fmt.Errorf("%w: a %d-byte payload is not whole %d-byte packets", ErrNotMPEGTS, len(b), tsPacketSize)
	}
	for i := 0; i < len(b); i += tsPacketSize {
		if b[i] != tsSync {
			return fmt.Errorf("%w: byte %d is %#02x, not the sync byte", ErrNotMPEGTS, i, b[i])
		}
	}
	return nil
}

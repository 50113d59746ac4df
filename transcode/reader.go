package transcode

import (
	"context"
	"errors"
	"io"

	"github.com/asticode/go-astiav"
)

// ContextReader supplies an input's bytes; a cancelled ctx must make a
// blocked read return.
type ContextReader interface {
	ReadContext(ctx context.Context, b []byte) (int, error)
}

// customIOSize is the demuxer's read buffer: a few SRT payloads.
const customIOSize = 32 * 1316

// customIO is the AVIOContext that reads from InputOptions.Reader. Go
// reads block outside libav, so the watchdog's interrupt cancels ctx too.
type customIO struct {
	ioc    *astiav.IOContext
	ctx    context.Context
	cancel context.CancelFunc
}

// attachReader gives the format context a custom reader, when one is set.
func (in *Input) attachReader() error {
	if in.opts.Reader == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &customIO{ctx: ctx, cancel: cancel}
	read := func(b []byte) (int, error) {
		n, err := in.opts.Reader.ReadContext(c.ctx, b)
		switch {
		case n > 0:
			return n, nil
		case errors.Is(err, io.EOF):
			return 0, astiav.ErrEof
		case err != nil:
			return 0, astiav.ErrExit
		}
		return 0, astiav.ErrEagain
	}
	ioc, err := astiav.AllocIOContext(customIOSize, false, read, nil, nil)
	if err != nil {
		cancel()
		return err
	}
	c.ioc = ioc
	in.custom = c
	in.fc.SetPb(ioc)
	return nil
}

// interruptNow makes libav's blocked or next call return, and a Go read
// under it too.
func (in *Input) interruptNow() {
	in.intr.Interrupt()
	if in.custom != nil {
		in.custom.cancel()
	}
}

// free releases the custom reader after the format context is closed
// (libav leaves a custom AVIOContext to its owner).
func (c *customIO) free() {
	if c == nil {
		return
	}
	c.cancel()
	c.ioc.Free()
}

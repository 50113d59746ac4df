package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/transcode"
)

// errPublisherLeft ends a publish source's session: it waits for the
// next publisher, continuing the output timeline.
var errPublisherLeft = errors.New("publisher left")

// publishing tells whether the source waits for publishers.
func (p *Pipeline) publishing() bool {
	return p.opts.URL != nil && p.opts.URL.Kind == config.KindPublish
}

// openPublished waits for a publisher, showing the slate meanwhile, and
// opens a session on its stream.
func (p *Pipeline) openPublished(ctx context.Context) (inputSession, error) {
	if p.opts.Publish == nil {
		return nil, fmt.Errorf("%w: publishing is not enabled", errPermanent)
	}
	p.stats.setPublisher(nil)
	p.stats.setState(StateWaiting, nil)
	p.out.startSlate()
	pub, err := p.opts.Publish.Await(ctx, p.opts.Source.Name)
	if errors.Is(err, publish.ErrGatewayClosed) {
		return nil, fmt.Errorf("%w: %w", errPermanent, err)
	}
	if err != nil {
		return nil, err
	}
	info := pub.Info()
	p.log.Info("publisher connected", "protocol", info.Protocol, "remote", info.Remote)
	in, err := p.publishedInput(ctx, pub)
	if err == nil {
		var s *session
		if s, err = newSession(in, p.opts, p.stats, p.log); err == nil {
			p.stats.setPublisher(&info)
			return &publishedSession{session: s, pub: pub, broker: p.opts.Publish}, nil
		}
	}
	p.log.Warn("publisher refused", "protocol", info.Protocol, "remote", info.Remote, "err", err)
	pub.Close(fmt.Errorf("%w: %w", publish.ErrBadStream, err))
	return nil, err
}

// publishedInput demuxes a byte-stream publisher's container with libav,
// or takes a packet publisher's access units as they are.
func (p *Pipeline) publishedInput(ctx context.Context, pub *publish.Publisher) (demuxer, error) {
	info, src := pub.Info(), p.opts.Source
	if info.Container != "" {
		// A publisher streams from its first packet: a short probe finds
		// the tracks (the default second of it delays the first picture).
		return transcode.OpenInput(ctx, transcode.InputOptions{Reader: pub, Format: info.Container,
			Whitelist: "none", ConnectTimeout: src.ConnectTimeout.D, ReadTimeout: src.ReadTimeout.D,
			Audio: src.AudioOn(), Options: map[string]string{"analyzeduration": "300000"}})
	}
	audio := info.Audio
	if !src.AudioOn() {
		audio = nil
	}
	return transcode.NewPacketInput(*info.Video, audio, pub.ReadPacket)
}

// publishedSession is a session on one publisher's stream.
type publishedSession struct {
	*session
	pub    *publish.Publisher
	broker *publish.Broker
}

// run ends the publisher when its stream fails or ends, but hands it back
// when the source only stops (a restart after a change picks it up).
func (s *publishedSession) run(ctx context.Context, out *output) error {
	err := s.session.run(ctx, out)
	if ctx.Err() == nil && !errors.Is(err, errPublisherLeft) {
		s.pub.Close(fmt.Errorf("%w: %w", publish.ErrBadStream, err))
	}
	return err
}

func (s *publishedSession) close() {
	s.session.close()
	if s.pub.Err() == nil {
		s.broker.Unclaim(s.pub)
	}
}

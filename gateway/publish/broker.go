package publish

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/visiongate/visiongate/media"
)

// Policy is what a publish source says about its publishers.
type Policy struct {
	// Override lets a new publisher take over from the connected one.
	Override bool
	// Auto marks a source created by the first publisher (auto_publish),
	// removed when its publisher leaves.
	Auto bool
}

// Options configure a Broker.
type Options struct {
	// Lookup tells whether name is a publish source, and its policy.
	Lookup func(name string) (Policy, bool)
	// Create, when set (auto_publish), makes a publish source for a name
	// that has none; Remove takes it away once its publisher has left.
	Create func(name string) error
	Remove func(name string)
	// Users may publish. With Required, a publisher must be one of them
	// (none then means nobody may publish); without, anyone may.
	Users    []Credentials
	Required bool
	// MaxConnections bounds the connections per protocol (0: 64).
	MaxConnections int
}

// Credentials are a user name and password; an empty user name (a token)
// goes with any.
type Credentials struct{ User, Pass string }

// Broker pairs publishers with the sources waiting for them.
type Broker struct {
	opts   Options
	mu     sync.Mutex
	slots  map[string]*slot
	conns  map[Protocol]int
	closed bool
	// removing counts the removals of auto sources under way.
	removing sync.WaitGroup
}

// slot is one source name: its publisher, claimed by the source or not.
type slot struct {
	pub     *Publisher
	claimed bool
	auto    bool
	// changed is closed and replaced whenever pub changes.
	changed chan struct{}
}

// New creates a broker.
func New(o Options) *Broker {
	if o.MaxConnections <= 0 {
		o.MaxConnections = 64
	}
	return &Broker{opts: o, slots: map[string]*slot{}, conns: map[Protocol]int{}}
}

// Authorize checks a publisher's credentials.
func (b *Broker) Authorize(user, pass string) error {
	if !b.opts.Required {
		return nil
	}
	ok := 0
	for _, c := range b.opts.Users {
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(c.User))
		if c.User == "" { // a token: any user name goes with it
			userOK = 1
		}
		ok |= userOK & subtle.ConstantTimeCompare([]byte(pass), []byte(c.Pass))
	}
	if ok == 0 {
		return ErrUnauthorized
	}
	return nil
}

// AuthRequired tells whether publishing needs credentials.
func (b *Broker) AuthRequired() bool { return b.opts.Required }

// Admit counts one more connection of a protocol, refused past the limit;
// release gives it back.
func (b *Broker) Admit(p Protocol) (release func(), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrGatewayClosed
	}
	if b.conns[p] >= b.opts.MaxConnections {
		return nil, fmt.Errorf("%w: %d %s connections", ErrTooMany, b.conns[p], p)
	}
	b.conns[p]++
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.conns[p]--
			b.mu.Unlock()
		})
	}, nil
}

// Check tells whether a publisher could publish to name now, without
// starting it: protocols that negotiate before their first packet ask
// first (credentials, the source, then whether another publishes).
func (b *Broker) Check(name, user, pass string) error {
	if err := b.Authorize(user, pass); err != nil {
		return err
	}
	pol, err := b.policy(name)
	if err != nil || pol.Override {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.slots[name]; s != nil && s.pub != nil {
		return fmt.Errorf("%w (%s from %s)", ErrBusy, s.pub.info.Protocol, s.pub.info.Remote)
	}
	return nil
}

// policy asks the sources about name. Never under b.mu: the manager
// calls Remove while holding its own lock.
func (b *Broker) policy(name string) (Policy, error) {
	if b.isClosed() {
		return Policy{}, ErrGatewayClosed
	}
	if pol, ok := b.opts.Lookup(name); ok {
		return pol, nil
	}
	if b.opts.Create != nil {
		return Policy{Auto: true}, nil
	}
	return Policy{}, fmt.Errorf("%w: %q", ErrNoSource, name)
}

// Publish starts a publisher for a source after checking its credentials,
// the source, and the one-publisher rule.
func (b *Broker) Publish(a Announce) (*Publisher, error) {
	if err := b.Authorize(a.User, a.Pass); err != nil {
		return nil, err
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	if err := b.createIfAuto(a.Name); err != nil {
		return nil, err
	}
	pol, err := b.policy(a.Name)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.slotLocked(a.Name)
	if old := s.pub; old != nil {
		if !pol.Override {
			return nil, fmt.Errorf("%w (%s from %s)", ErrBusy, old.info.Protocol, old.info.Remote)
		}
		s.pub = nil // old.end must not clear the new publisher
		b.mu.Unlock()
		old.end(ErrTakenOver)
		b.mu.Lock()
		if s.pub != nil {
			return nil, fmt.Errorf("%w (%s)", ErrBusy, s.pub.info.Remote)
		}
	}
	dropped := new(atomic.Int64)
	p := &Publisher{name: a.Name, broker: b, queue: make(chan media.Packet, queueLen), ended: make(chan struct{}),
		dropped: dropped, info: Info{Protocol: a.Protocol, Remote: a.Remote, Since: time.Now(), Video: a.Video,
			Audio: a.Audio, Container: a.Container, dropped: dropped}}
	s.pub, s.claimed, s.auto = p, false, s.auto || pol.Auto
	s.signal()
	return p, nil
}

// createIfAuto makes a source for a name that has none, with auto_publish.
func (b *Broker) createIfAuto(name string) error {
	_, exists := b.opts.Lookup(name)
	if exists || b.opts.Create == nil || b.isClosed() {
		return nil
	}
	if err := b.opts.Create(name); err != nil {
		return fmt.Errorf("%w: creating %q: %w", ErrNoSource, name, err)
	}
	b.mu.Lock()
	b.slotLocked(name).auto = true
	b.mu.Unlock()
	return nil
}

func (b *Broker) slotLocked(name string) *slot {
	s := b.slots[name]
	if s == nil {
		s = &slot{changed: make(chan struct{})}
		b.slots[name] = s
	}
	return s
}

func (s *slot) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Await waits for a publisher of name that no source has claimed yet, and
// claims it.
func (b *Broker) Await(ctx context.Context, name string) (*Publisher, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, ErrGatewayClosed
		}
		s := b.slotLocked(name)
		if s.pub != nil && !s.claimed {
			s.claimed = true
			p := s.pub
			b.mu.Unlock()
			return p, nil
		}
		changed := s.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Unclaim hands a publisher back when its source stops without meaning
// to end it (a restart after a change): the next Await gets it again.
func (b *Broker) Unclaim(p *Publisher) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.slots[p.name]; s != nil && s.pub == p {
		s.claimed = false
		s.signal()
	}
}

// Current describes the publisher of name, if one is connected.
func (b *Broker) Current(name string) (Info, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.slots[name]; s != nil && s.pub != nil {
		return s.pub.info, true
	}
	return Info{}, false
}

// Remove ends the publisher of a source that is gone.
func (b *Broker) Remove(name string) {
	b.mu.Lock()
	s := b.slots[name]
	delete(b.slots, name)
	b.mu.Unlock()
	if s != nil && s.pub != nil {
		s.pub.end(ErrSourceGone)
	}
}

// Close ends every publisher and refuses new ones.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	var pubs []*Publisher
	for _, s := range b.slots {
		if s.pub != nil {
			pubs = append(pubs, s.pub)
		}
		s.signal()
	}
	b.mu.Unlock()
	for _, p := range pubs {
		p.end(ErrGatewayClosed)
	}
	b.removing.Wait()
}

// left clears a publisher that ended from its slot, and removes a source
// that auto_publish created for it.
func (b *Broker) left(p *Publisher) {
	b.mu.Lock()
	s := b.slots[p.name]
	if s == nil || s.pub != p {
		b.mu.Unlock()
		return
	}
	s.pub, s.claimed = nil, false
	s.signal()
	auto := s.auto && !b.closed
	if auto {
		delete(b.slots, p.name)
	}
	b.mu.Unlock()
	if auto && b.opts.Remove != nil {
		b.removing.Add(1)
		go func() { // it stops the source, which may be reading p
			defer b.removing.Done()
			b.opts.Remove(p.name)
		}()
	}
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

package publish

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/visiongate/visiongate/media"
)

var h264 = &media.Track{Codec: media.CodecH264, ClockRate: 90000, Width: 640, Height: 360}

func announce(name string) Announce {
	return Announce{Name: name, Protocol: RTMP, Remote: "10.0.0.1:1234", User: "pub", Pass: "secret", Video: h264}
}

// sources is a fake source list for the broker.
type sources struct {
	mu      sync.Mutex
	known   map[string]Policy
	created []string
	removed chan string
}

func (s *sources) lookup(name string) (Policy, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.known[name]
	return p, ok
}

func newTestBroker(o Options, known map[string]Policy) (*Broker, *sources) {
	s := &sources{known: known, removed: make(chan string, 4)}
	o.Lookup = s.lookup
	return New(o), s
}

func TestPublishRefusals(t *testing.T) {
	users := []Credentials{{User: "pub", Pass: "secret"}}
	for _, tc := range []struct {
		name string
		opts Options
		a    Announce
		want error
	}{
		{"open gateway", Options{}, announce("cam"), nil},
		{"good credentials", Options{Users: users, Required: true}, announce("cam"), nil},
		{"wrong password", Options{Users: users, Required: true},
			func() Announce { a := announce("cam"); a.Pass = "nope"; return a }(), ErrUnauthorized},
		{"no credentials", Options{Users: users, Required: true},
			func() Announce { a := announce("cam"); a.User, a.Pass = "", ""; return a }(), ErrUnauthorized},
		{"auth on, no publish user", Options{Required: true}, announce("cam"), ErrUnauthorized},
		{"unknown source", Options{}, announce("other"), ErrNoSource},
		{"no video", Options{}, func() Announce { a := announce("cam"); a.Video = nil; return a }(), ErrBadStream},
		{"16k picture", Options{}, func() Announce {
			a := announce("cam")
			a.Video = &media.Track{Codec: media.CodecH264, ClockRate: 90000, Width: 16384, Height: 16384}
			return a
		}(), ErrBadStream},
		{"byte stream", Options{}, Announce{Name: "cam", Protocol: SRT, Container: ContainerMPEGTS}, nil},
		{"unknown container", Options{}, Announce{Name: "cam", Protocol: SRT, Container: "flv"}, ErrBadStream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newTestBroker(tc.opts, map[string]Policy{"cam": {}})
			_, err := b.Publish(tc.a)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Publish = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSecondPublisherIsRefusedUnlessOverride(t *testing.T) {
	b, _ := newTestBroker(Options{}, map[string]Policy{"cam": {}, "shared": {Override: true}})
	first, err := b.Publish(announce("cam"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(announce("cam")); !errors.Is(err, ErrBusy) {
		t.Fatalf("second publisher: %v, want ErrBusy", err)
	}
	if err := b.Check("cam", "", ""); !errors.Is(err, ErrBusy) {
		t.Fatalf("Check while busy: %v, want ErrBusy", err)
	}
	if first.Err() != nil {
		t.Fatalf("the refusal ended the first publisher: %v", first.Err())
	}
	old, _ := b.Publish(announce("shared"))
	if err := b.Check("shared", "", ""); err != nil {
		t.Fatalf("Check with override: %v", err)
	}
	next, err := b.Publish(announce("shared"))
	if err != nil {
		t.Fatal(err)
	}
	<-old.Done()
	if !errors.Is(old.Err(), ErrTakenOver) || next.Err() != nil {
		t.Fatalf("after takeover: old %v, new %v", old.Err(), next.Err())
	}
	if info, ok := b.Current("shared"); !ok || info.Since != next.Info().Since {
		t.Fatalf("current = %+v, %v", info, ok)
	}
}

func TestAwaitGetsEachPublisherOnce(t *testing.T) {
	b, _ := newTestBroker(Options{}, map[string]Policy{"cam": {}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan *Publisher)
	go func() {
		p, _ := b.Await(ctx, "cam")
		got <- p
	}()
	pub, _ := b.Publish(announce("cam"))
	if p := <-got; p != pub {
		t.Fatalf("Await = %p, want %p", p, pub)
	}
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if _, err := b.Await(short, "cam"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("claimed publisher awaited twice: %v", err)
	}
	b.Unclaim(pub) // the source restarts
	if p, err := b.Await(ctx, "cam"); p != pub || err != nil {
		t.Fatalf("after Unclaim: %p %v", p, err)
	}
}

func TestPacketsFlowAndEndWithEOF(t *testing.T) {
	b, _ := newTestBroker(Options{}, map[string]Policy{"cam": {}})
	pub, _ := b.Publish(announce("cam"))
	for i := range 3 {
		if err := pub.WritePacket(media.Packet{PTS: int64(i), Key: i == 0, Data: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close(nil)
	ctx := context.Background()
	for i := range 3 {
		pk, err := pub.ReadPacket(ctx)
		if err != nil || pk.PTS != int64(i) {
			t.Fatalf("packet %d = %+v, %v", i, pk, err)
		}
	}
	if _, err := pub.ReadPacket(ctx); err != io.EOF {
		t.Fatalf("after the last packet: %v, want EOF", err)
	}
	if err := pub.WritePacket(media.Packet{Data: []byte{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if _, ok := b.Current("cam"); ok {
		t.Fatal("a publisher that left is still current")
	}
}

func TestOverflowDropsUntilNextKeyframe(t *testing.T) {
	b, _ := newTestBroker(Options{}, map[string]Policy{"cam": {}})
	pub, _ := b.Publish(announce("cam"))
	for i := range queueLen + 10 {
		_ = pub.WritePacket(media.Packet{PTS: int64(i), Data: []byte{1}})
	}
	_ = pub.WritePacket(media.Packet{PTS: -1, Data: []byte{1}, Audio: true}) // still dropped: full
	ctx := context.Background()
	for range queueLen {
		if _, err := pub.ReadPacket(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_ = pub.WritePacket(media.Packet{PTS: 1, Data: []byte{1}})            // delta: dropped
	_ = pub.WritePacket(media.Packet{PTS: 2, Data: []byte{1}, Key: true}) // resumes here
	if pk, _ := pub.ReadPacket(ctx); pk.PTS != 2 || !pk.Key {
		t.Fatalf("after overflow got %+v, want the keyframe", pk)
	}
	if d := pub.Info().Dropped(); d != 12 {
		t.Fatalf("dropped = %d, want 12", d)
	}
}

func TestByteStreamReads(t *testing.T) {
	b, _ := newTestBroker(Options{}, map[string]Policy{"cam": {}})
	pub, _ := b.Publish(Announce{Name: "cam", Protocol: SRT, Container: ContainerMPEGTS})
	src := []byte("0123456789")
	if _, err := pub.Write(src); err != nil {
		t.Fatal(err)
	}
	src[0] = 'x' // Write copied it
	pub.Close(nil)
	got, err := io.ReadAll(pub)
	if err != nil || string(got) != "0123456789" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestAutoPublishCreatesAndRemoves(t *testing.T) {
	var b *Broker
	var s *sources
	b, s = newTestBroker(Options{
		Create: func(name string) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.known[name] = Policy{Auto: true}
			s.created = append(s.created, name)
			return nil
		},
		Remove: func(name string) {
			s.mu.Lock()
			delete(s.known, name)
			s.mu.Unlock()
			s.removed <- name
		},
	}, map[string]Policy{})
	pub, err := b.Publish(announce("drone"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.created) != 1 {
		t.Fatalf("created %v", s.created)
	}
	pub.Close(nil)
	select {
	case name := <-s.removed:
		if name != "drone" {
			t.Fatalf("removed %q", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the auto source was not removed when its publisher left")
	}
	b.Close()
}

func TestAdmitCapsConnections(t *testing.T) {
	b, _ := newTestBroker(Options{MaxConnections: 2}, nil)
	r1, err1 := b.Admit(RTMP)
	_, err2 := b.Admit(RTMP)
	_, err3 := b.Admit(RTMP)
	_, errSRT := b.Admit(SRT)
	if err1 != nil || err2 != nil || !errors.Is(err3, ErrTooMany) || errSRT != nil {
		t.Fatalf("admit: %v %v %v %v", err1, err2, err3, errSRT)
	}
	r1()
	r1() // releasing twice gives one slot back
	if _, err := b.Admit(RTMP); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if _, err := b.Admit(RTMP); !errors.Is(err, ErrTooMany) {
		t.Fatalf("double release freed two slots: %v", err)
	}
}

func TestCloseEndsPublishersAndWaiters(t *testing.T) {
	b, _ := newTestBroker(Options{}, map[string]Policy{"cam": {}, "idle": {}})
	pub, _ := b.Publish(announce("cam"))
	errs := make(chan error, 1)
	go func() {
		_, err := b.Await(context.Background(), "idle")
		errs <- err
	}()
	b.Close()
	if !errors.Is(pub.Err(), ErrGatewayClosed) {
		t.Fatalf("publisher after Close: %v", pub.Err())
	}
	if err := <-errs; !errors.Is(err, ErrGatewayClosed) {
		t.Fatalf("Await after Close: %v", err)
	}
	if _, err := b.Publish(announce("cam")); !errors.Is(err, ErrGatewayClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

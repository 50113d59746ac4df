package mjpeg

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestWantedFollowsViewersAndSnapshots(t *testing.T) {
	h := New()
	if h.Active() || len(h.Wanted()) != 0 {
		t.Fatal("a new hub wants pictures")
	}
	v1, v2 := h.Subscribe(0), h.Subscribe(320)
	if got := h.Wanted(); len(got) != 2 || h.Viewers() != 2 {
		t.Fatalf("wanted %v with 2 viewers", got)
	}
	v1.Close()
	v1.Close() // twice is fine
	v2.Close()
	if h.Active() {
		t.Fatal("still active after viewers left")
	}
}

func TestViewerGetsNewestOnly(t *testing.T) {
	h := New()
	v := h.Subscribe(0)
	defer v.Close()
	for i := range 5 {
		h.Publish(0, &Picture{JPEG: []byte{byte(i)}})
	}
	p, err := v.Next(t.Context())
	if err != nil || p.JPEG[0] != 4 {
		t.Fatalf("got %v %v, want the newest picture", p, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := v.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Next without a new picture: %v", err)
	}
}

func TestSnapshotAsksForOnePicture(t *testing.T) {
	h := New()
	got := make(chan *Picture, 1)
	go func() {
		p, _ := h.Snapshot(t.Context(), 0, time.Second)
		got <- p
	}()
	for !h.Active() { // wait for the request to register
		time.Sleep(time.Millisecond)
	}
	h.Publish(0, &Picture{JPEG: []byte("x"), Time: time.Now()})
	if p := <-got; p == nil || string(p.JPEG) != "x" {
		t.Fatalf("snapshot = %v", p)
	}
	if h.Active() {
		t.Fatal("still active after the snapshot was served")
	}
	// A fresh picture is served without waiting.
	if p, err := h.Snapshot(t.Context(), 0, time.Second); err != nil || string(p.JPEG) != "x" {
		t.Fatalf("fresh snapshot: %v %v", p, err)
	}
}

func TestCloseWakesEveryone(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			v := h.Subscribe(0)
			defer v.Close()
			if _, err := v.Next(context.Background()); !errors.Is(err, ErrClosed) {
				t.Errorf("Next: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := h.Snapshot(context.Background(), 0, 0); !errors.Is(err, ErrClosed) {
				t.Errorf("Snapshot: %v", err)
			}
		}()
	}
	for h.Viewers() < 10 {
		time.Sleep(time.Millisecond)
	}
	h.Close()
	wg.Wait()
}

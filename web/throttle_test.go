package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// After Max failures in the window an address is refused until the window
// has passed since its first failure; other addresses never are.
func TestThrottleWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	th := &Throttle{Max: 3, Window: time.Minute, now: func() time.Time { return now }}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for range 2 {
		th.Fail(a)
	}
	if _, blocked := th.Blocked(a); blocked {
		t.Fatal("blocked below the limit")
	}
	now = now.Add(10 * time.Second)
	th.Fail(a)
	wait, blocked := th.Blocked(a)
	if !blocked || wait != 50*time.Second {
		t.Fatalf("after 3 failures: blocked %v for %v, want 50s (a minute from the first)", blocked, wait)
	}
	if _, blocked := th.Blocked(b); blocked {
		t.Error("another address is blocked")
	}
	now = now.Add(50 * time.Second)
	if _, blocked := th.Blocked(a); blocked {
		t.Error("still blocked after the window")
	}
	th.Fail(a) // a new window starts with one failure
	if _, blocked := th.Blocked(a); blocked {
		t.Error("one failure in a new window blocks")
	}
	var none *Throttle // no throttling configured
	none.Fail(a)
	if _, blocked := none.Blocked(a); blocked {
		t.Error("nil throttle blocks")
	}
}

// Over HTTP: wrong credentials count (missing ones do not); a blocked
// address gets 429 with Retry-After, even with the right password, and
// its connection closed; other addresses go on.
func TestThrottledLogins(t *testing.T) {
	th := NewThrottle(3)
	h := NewRouter(Options{Sources: newFake(), Auth: Auth{Username: "admin", Password: "pw", Throttle: th}})
	get := func(remote, user, pass string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api/v1/sources", nil)
		req.RemoteAddr = remote
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for range 5 {
		if rec := get("192.0.2.1:1000", "", ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("no credentials: %d", rec.Code)
		}
	}
	for range 3 {
		rec := get("192.0.2.1:1000", "admin", "guess")
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("Connection") != "close" {
			t.Fatalf("wrong password: %d, Connection %q; want 401 and close", rec.Code, rec.Header().Get("Connection"))
		}
	}
	rec := get("192.0.2.1:1001", "admin", "pw")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" ||
		rec.Header().Get("Connection") != "close" {
		t.Errorf("blocked address: %d Retry-After %q Connection %q, want 429, 60, close",
			rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Connection"))
	}
	if rec := get("192.0.2.2:1000", "admin", "pw"); rec.Code != http.StatusOK {
		t.Errorf("another address: %d, want 200", rec.Code)
	}
	if rec := get("[2001:db8::1]:1000", "admin", "pw"); rec.Code != http.StatusOK {
		t.Errorf("an IPv6 address: %d, want 200", rec.Code)
	}
}

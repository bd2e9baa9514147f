package testkit

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Ensure the log buffer keeps every write of concurrent writers.
func TestLogBuffer(t *testing.T) {
	var b LogBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := b.Write([]byte("x")); err != nil {
					t.Error(err)
				}
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := len(b.String()); got != 800 {
		t.Errorf("got %d bytes, want 800", got)
	}
}

func TestClock(t *testing.T) {
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewClock(t0)
	c.Add(time.Hour)
	if got := c.Now(); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("after Add: %v", got)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("after Set: %v", got)
	}
}

// Ensure a fake checks credentials first, injects each fault once per
// time asked, makes the change of a lost answer, and that Close releases
// a hung request.
func TestFake(t *testing.T) {
	var changes atomic.Int32
	f := StartFake(t, Vendor{
		Authorize: func(w http.ResponseWriter, r *http.Request) bool {
			if r.Header.Get("key") != "k" {
				http.Error(w, "no", http.StatusUnauthorized)
				return true
			}
			return false
		},
		Route: func(w http.ResponseWriter, r *http.Request) {
			changes.Add(1)
			_, _ = io.WriteString(w, `{"ok": true}`) // the client checks what it gets
		},
		Error:     func(w http.ResponseWriter, status int) { http.Error(w, "injected", status) },
		Malformed: `{"ok": `, HugeKey: "pad", HugePad: 'a',
	})
	call := func(key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", f.URL+"/rooms", nil)
		req.Header.Set("key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			b = append(bytes.TrimSpace(b), " retry "+ra...)
		}
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	f.Fail("POST", "/other", 1, Fault{Status: 500})
	tests := []struct {
		key, want string
		code      int
		changes   int32
		before    func()
	}{
		{"bad", "no", 401, 0, nil},
		{"k", "injected retry 3", 429, 0, func() { f.Fail("POST", "/rooms", 1, Fault{Status: 429, RetryAfter: "3"}) }},
		{"k", `{"ok": true}`, 200, 1, nil},
		{"k", `{"ok":`, 200, 1, func() { f.Fail("POST", "/", 1, Fault{Malformed: true}) }},
		{"k", "injected", 502, 2, func() { f.Fail("POST", "/", 1, Fault{Lost: true, Status: 502}) }},
	}
	for i, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		code, body := call(tt.key)
		if code != tt.code || body != tt.want || changes.Load() != tt.changes {
			t.Errorf("call %d: got %d %q after %d changes; want %d %q after %d", i, code, body, changes.Load(), tt.code, tt.want, tt.changes)
		}
	}
	f.Fail("POST", "/", 1, Fault{Huge: true})
	if _, body := call("k"); len(body) != 10<<20+len(`{"pad": ""}`) {
		t.Errorf("huge body: %d bytes", len(body))
	}
	if got := f.Count("POST", "/rooms"); got != 6 {
		t.Errorf("Count = %d, want 6", got)
	}
	f.Fail("POST", "/", 1, Fault{Hang: true})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", f.URL+"/rooms", nil)
		req.Header.Set("key", "k")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for f.Count("POST", "/rooms") < 7 {
		time.Sleep(time.Millisecond)
	}
	f.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hung request")
	}
}

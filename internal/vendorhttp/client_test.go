package vendorhttp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

const secretKey = "sk_live_NEVER-SHOW-THIS-KEY-0123456789"

// harness is a vendor server whose handler the test sets, and a client
// that records its waits instead of sleeping.
type harness struct {
	srv     *httptest.Server
	c       *Client
	calls   atomic.Int32
	logs    *testkit.LogBuffer
	mu      sync.Mutex
	waits   []time.Duration
	handler func(n int, w http.ResponseWriter, r *http.Request)
}

func newHarness(t *testing.T, timeout time.Duration, handler func(n int, w http.ResponseWriter, r *http.Request)) *harness {
	t.Helper()
	h := &harness{handler: handler, logs: &testkit.LogBuffer{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(h.calls.Add(1))
		if r.Header.Get("Authorization") != "Bearer "+secretKey {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.handler(n, w, r)
	}))
	t.Cleanup(h.srv.Close)
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(Config{
		Vendor: "Acme", KeyName: "ACME_API_KEY", BaseURL: h.srv.URL + "/v1/",
		Auth:    func(hd http.Header) { hd.Set("Authorization", "Bearer "+secretKey) },
		Timeout: timeout, MaxResponseBytes: 1 << 10, BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		Logger: logger,
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.waits = append(h.waits, d)
			h.mu.Unlock()
			return ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	return h
}

// noSecret fails if the key shows in err or in the logs.
func (h *harness) noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secretKey) {
		t.Errorf("error shows the API key: %v", err)
	}
	if strings.Contains(h.logs.String(), secretKey) {
		t.Errorf("logs show the API key:\n%s", h.logs)
	}
}

func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if teleconsult.ErrorCode(err) != code || !strings.Contains(teleconsult.ErrorMessage(err), msg) {
		t.Fatalf("error %v (code %q), want code %q with %q", err, teleconsult.ErrorCode(err), code, msg)
	}
}

// Ensure a request carries the method, path, query, JSON body and
// headers, and that 2xx and 4xx answers come back to the caller.
func TestRequestShape(t *testing.T) {
	h := newHarness(t, time.Second, func(_ int, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.EscapedPath() != "/v1/rooms/a%20b" || r.URL.Query().Get("x") != "1" ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" || string(body) != `{"k":"v"}` {
			t.Errorf("request %s %s %v %s", r.Method, r.URL, r.Header, body)
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid-request-error"}`)
	})
	resp, err := h.c.Do(context.Background(), Request{Op: "make a room", Method: "POST", Path: "/rooms/a%20b",
		Query: map[string][]string{"x": {"1"}}, Body: map[string]string{"k": "v"}})
	if err != nil || resp.Status != 400 {
		t.Fatalf("%+v %v", resp, err)
	}
	err = h.c.Unexpected(resp, "make a room", "invalid-request-error")
	wantErr(t, err, teleconsult.EBADGATEWAY, "video provider Acme answered HTTP 400 invalid-request-error (make a room)")
	if err := h.c.Unexpected(resp, "make a room", "bad\nvalue with spaces"); strings.Contains(err.Error(), "spaces") {
		t.Errorf("a vendor error that is not a type is shown: %v", err)
	}
	err = h.c.Unexpected(&Response{Status: 401}, "make a room", "")
	wantErr(t, err, teleconsult.EBADGATEWAY, "refused our credentials (HTTP 401): check ACME_API_KEY")
	h.noSecret(t, err)
}

// Ensure 429 and 503 are retried with backoff, honouring Retry-After, for
// any request; 500 only for idempotent ones; and that giving up says why.
func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		idempotent bool
		fail       func(w http.ResponseWriter)
		failures   int
		wantCalls  int
		wantCode   string
		wantMsg    string
		wantWait   time.Duration // the first wait, when Retry-After says
	}{
		{"429 then ok", false, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
		}, 2, 3, "", "", 2 * time.Second},
		{"503 then ok", false, func(w http.ResponseWriter) { w.WriteHeader(503) }, 1, 2, "", "", 0},
		{"500 not retried", false, func(w http.ResponseWriter) { w.WriteHeader(500) }, 1, 1, teleconsult.EBADGATEWAY, "failed (HTTP 500)", 0},
		{"500 retried if idempotent", true, func(w http.ResponseWriter) { w.WriteHeader(500) }, 2, 3, "", "", 0},
		{"502 gives up", true, func(w http.ResponseWriter) { w.WriteHeader(502) }, 9, 4, teleconsult.EBADGATEWAY, "failed (HTTP 502)", 0},
		{"429 gives up", false, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
		}, 9, 4, teleconsult.EUNAVAILABLE, "is limiting the rate of requests; try again in 1 seconds", time.Second},
		{"429 past the time limit", false, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(429)
		}, 9, 1, teleconsult.EUNAVAILABLE, "try again in 3600 seconds", 0},
		{"503 gives up", false, func(w http.ResponseWriter) { w.WriteHeader(503) }, 9, 4, teleconsult.EUNAVAILABLE, "is unavailable (HTTP 503)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 5*time.Second, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n <= tt.failures {
					tt.fail(w)
					return
				}
				fmt.Fprint(w, `{"ok":true}`)
			})
			resp, err := h.c.Do(context.Background(), Request{Op: "op", Method: "POST", Path: "/x", Idempotent: tt.idempotent})
			if tt.wantCode == "" {
				if err != nil || !resp.OK() {
					t.Fatalf("%+v %v", resp, err)
				}
			} else {
				wantErr(t, err, tt.wantCode, tt.wantMsg)
			}
			if got := int(h.calls.Load()); got != tt.wantCalls {
				t.Errorf("%d calls, want %d", got, tt.wantCalls)
			}
			if tt.wantWait > 0 && (len(h.waits) == 0 || h.waits[0] != tt.wantWait) {
				t.Errorf("waits %v, want first %v", h.waits, tt.wantWait)
			}
			for i, w := range h.waits {
				if tt.wantWait == 0 && w > 4*time.Millisecond {
					t.Errorf("wait %d = %v beyond the backoff cap", i, w)
				}
			}
			h.noSecret(t, err)
		})
	}
}

// Ensure a vendor that hangs costs at most the time limit, and the answer
// is a clear 503.
func TestHang(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, 150*time.Millisecond, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	start := time.Now()
	_, err := h.c.Do(context.Background(), Request{Op: "create room", Method: "POST", Path: "/rooms", Idempotent: true})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v with a 150ms limit", d)
	}
	wantErr(t, err, teleconsult.EUNAVAILABLE, "video provider Acme did not answer within 150ms (create room)")
	h.noSecret(t, err)
}

// Ensure an answer over the size cap is a bad gateway, read only up to the
// cap.
func TestHugeAnswer(t *testing.T) {
	h := newHarness(t, time.Second, func(_ int, w http.ResponseWriter, _ *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range 160 { // 10 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	_, err := h.c.Do(context.Background(), Request{Op: "get room", Method: "GET", Path: "/rooms/r"})
	wantErr(t, err, teleconsult.EBADGATEWAY, "answered with more than 1024 bytes")
}

// Ensure malformed JSON and answers a check refuses are bad gateways that
// do not quote the body.
func TestDecode(t *testing.T) {
	h := newHarness(t, time.Second, func(int, http.ResponseWriter, *http.Request) {})
	var v struct{ Name string }
	err := h.c.Decode(&Response{Status: 200, Body: []byte(`{"Name": "Mario Rossi"`)}, "get room", &v, nil)
	wantErr(t, err, teleconsult.EBADGATEWAY, "gave a malformed answer (get room)")
	if strings.Contains(teleconsult.ErrorMessage(err), "Mario") {
		t.Errorf("message quotes the body: %v", err)
	}
	err = h.c.Decode(&Response{Status: 200, Body: []byte(`{"Name": ""}`)}, "get room", &v, func() error { return fmt.Errorf("no name") })
	wantErr(t, err, teleconsult.EBADGATEWAY, "gave an unexpected answer: no name (get room)")
}

// Ensure a vendor that cannot be reached is retried (nothing was sent)
// and ends in a 503.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var waits atomic.Int32
	c, err := New(Config{Vendor: "Acme", BaseURL: "http://" + addr, Auth: func(http.Header) {},
		BaseBackoff: time.Millisecond, Sleep: func(context.Context, time.Duration) error { waits.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), Request{Op: "create room", Method: "POST", Path: "/rooms", Body: map[string]int{}})
	wantErr(t, err, teleconsult.EUNAVAILABLE, "video provider Acme cannot be reached (create room)")
	if waits.Load() != DefaultMaxAttempts-1 {
		t.Errorf("%d retries of a request that could not be sent, want %d", waits.Load(), DefaultMaxAttempts-1)
	}
}

// Ensure redirects are not followed, so a custom key header never goes to
// another host.
func TestNoRedirect(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Header.Get("Apikey") != "" {
			leaked.Store(true)
		}
	}))
	defer other.Close()
	h := newHarness(t, time.Second, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	})
	resp, err := h.c.Do(context.Background(), Request{Op: "get room", Method: "GET", Path: "/rooms/r"})
	if err != nil || resp.Status != http.StatusFound {
		t.Fatalf("%+v %v", resp, err)
	}
	if leaked.Load() {
		t.Error("the redirect was followed with the key")
	}
	wantErr(t, h.c.Unexpected(resp, "get room", ""), teleconsult.EBADGATEWAY, "answered HTTP 302")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "7": 7 * time.Second, "abc": 0, "99999999": time.Hour,
		now.Add(30 * time.Second).Format(http.TimeFormat):  30 * time.Second,
		now.Add(-30 * time.Second).Format(http.TimeFormat): 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

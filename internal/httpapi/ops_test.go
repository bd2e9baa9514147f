package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure every response, error or not, carries the security headers and a
// request id.
func TestResponseHeaders(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"GET", api + "/" + id}, {"GET", "/nope"}, {"PUT", api}, {"GET", "/docs"}, {"GET", "/openapi.json"},
	} {
		w := e.do(tt.method, tt.path, "", asUser("d1"))
		h := w.Header()
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"Cache-Control":          "no-store",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, k, got, want)
			}
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s %s: CSP = %q", tt.method, tt.path, h.Get("Content-Security-Policy"))
		}
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(h.Get("X-Request-Id")) {
			t.Errorf("%s %s: X-Request-Id = %q", tt.method, tt.path, h.Get("X-Request-Id"))
		}
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		given string
		kept  bool
	}{
		{"abc-123_X.y", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"has space", false},
		{"inject\"quote", false},
		{"", false},
	}
	for _, tt := range tests {
		w := e.do("GET", "/healthz", "", withHeader("X-Request-Id", tt.given))
		got := w.Header().Get("X-Request-Id")
		if (got == tt.given) != tt.kept || got == "" {
			t.Errorf("X-Request-Id %q → %q (kept = %v)", tt.given, got, tt.kept)
		}
	}
}

// Ensure unknown routes are 404 JSON and wrong methods 405 JSON with Allow.
func TestRouting(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/index.html", 404, ""},
		{"GET", api + "/", 404, ""},
		{"GET", api + "/0123456789abcdef0123456789abcdef/extra", 404, ""},
		{"GET", Prefix + "/settings/update", 405, "PATCH"},
		{"PUT", api, 405, "POST"},
		{"GET", api, 405, "POST"},
		{"PUT", api + "/0123456789abcdef0123456789abcdef", 405, "GET, HEAD, PATCH, DELETE"},
		{"TRACE", "/healthz", 405, "GET, HEAD"},
		{"OPTIONS", Prefix + "/sessions", 405, "POST"},
		{"GET", Prefix + "/sessions", 405, "POST"},
		{"DELETE", "/metrics", 405, "GET, HEAD"},
		{"POST", "/", 405, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := e.do(tt.method, tt.path, "")
			wantStatus(t, w, tt.status)
			if errorOf(t, w) == "" {
				t.Error("no error message")
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
	w := e.do("HEAD", "/healthz", "")
	wantStatus(t, w, 200)
	if w.Body.Len() != 0 {
		t.Errorf("HEAD body = %q", w.Body.String())
	}
}

// Ensure a panic becomes a 500 with only the request id, and is logged.
func TestPanicRecovery(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	e.spy.findPanic = true
	w := e.do("GET", api+"/"+id, "", asUser("d1"), withHeader("X-Request-Id", "req-panic-1"))
	wantStatus(t, w, http.StatusInternalServerError)
	if got, want := errorOf(t, w), "internal error (request id req-panic-1)"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
	if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("the response leaks the panic: %s", w.Body.String())
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "req-panic-1") || !strings.Contains(logs, "exploded") {
		t.Fatalf("the panic was not logged with the request id:\n%s", logs)
	}
	if !strings.Contains(logs, "status=500") {
		t.Fatalf("the request line lacks status 500:\n%s", logs)
	}
}

// Ensure internal errors are 500 with the request id and logged, and that
// unavailability is 503.
func TestInternalErrors(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)

	e.spy.findErr = errors.New("disk on fire at /var/lib/secret.db")
	w := e.do("DELETE", api+"/"+id, "", withHeader("X-Request-Id", "req-500"))
	wantStatus(t, w, http.StatusInternalServerError)
	if got := errorOf(t, w); got != "internal error (request id req-500)" {
		t.Fatalf("error = %q", got)
	}
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Fatal("the internal error was not logged")
	}

	e.spy.findErr = &teleconsult.Error{Code: teleconsult.EUNAVAILABLE, Message: "database unavailable", Err: errors.New("dial tcp")}
	wantStatus(t, e.do("GET", api+"/"+id, "", asUser("d1")), http.StatusServiceUnavailable)
	e.spy.findErr = nil

	wantStatus(t, e.do("GET", "/readyz", "", noKey()), http.StatusOK)
	e.spy.pingErr = errors.New("connection refused")
	w = e.do("GET", "/readyz", "", noKey())
	wantStatus(t, w, http.StatusServiceUnavailable)
	if got := errorOf(t, w); got != "database unavailable" {
		t.Fatalf("readyz error = %q", got)
	}
	if b := body(t, e.do("GET", "/healthz", "", noKey())); b["status"] != "ok" {
		t.Fatalf("healthz = %v", b)
	}
}

// Ensure guessing link codes from one address is throttled, with
// Retry-After, while other addresses are not affected.
func TestSessionRateLimit(t *testing.T) {
	e := newEnv(t)
	guess := sessionJSON(strings.Repeat("g", 43))
	attacker := fromAddr("203.0.113.7:40000")
	for range sessionBurst {
		wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), attacker), http.StatusUnauthorized)
	}
	w := e.do("POST", Prefix+"/sessions", guess, noKey(), fromAddr("203.0.113.7:40001"),
		withHeader("X-Forwarded-For", "198.51.100.1"))
	wantStatus(t, w, http.StatusTooManyRequests)
	if got := w.Header().Get("Retry-After"); got != "6" {
		t.Fatalf("Retry-After = %q, want 6", got)
	}
	if got, want := errorOf(t, w), "too many attempts; try again in 6 seconds"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
	// Another client is not affected; nor is another /64 for IPv6.
	wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), fromAddr("203.0.113.8:1")), http.StatusUnauthorized)

	// One token comes back every 6 seconds.
	e.clock.Add(6*time.Second + time.Millisecond)
	wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), attacker), http.StatusUnauthorized)
	wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), attacker), http.StatusTooManyRequests)

	// The same /64 shares a bucket.
	for range sessionBurst {
		e.do("POST", Prefix+"/sessions", guess, noKey(), fromAddr("[2001:db8:1:2::1]:443"))
	}
	wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), fromAddr("[2001:db8:1:2:ffff::9]:443")), http.StatusTooManyRequests)
	wantStatus(t, e.do("POST", Prefix+"/sessions", guess, noKey(), fromAddr("[2001:db8:1:3::1]:443")), http.StatusUnauthorized)
}

// Ensure the limiter's memory is bounded: the least recently seen client
// is forgotten first.
func TestLimiterBounded(t *testing.T) {
	l := newIPLimiter(sessionRate, 1, 3)
	now := t0
	for i := range 10 {
		l.allow(fmt.Sprint("client", i), now)
	}
	if l.len() != 3 {
		t.Fatalf("limiter tracks %d clients, want 3", l.len())
	}
	if ok, _ := l.allow("client9", now); ok {
		t.Fatal("a tracked client got a second token")
	}
	if ok, _ := l.allow("client0", now); !ok {
		t.Fatal("a forgotten client has no fresh bucket")
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1"},
		{"[2001:db8:a:b:c:d:e:f]:1", "2001:db8:a:b::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
		{"garbage", "unknown"},
		{"", "unknown"},
	}
	for _, tt := range tests {
		if got := clientKey(tt.addr); got != tt.want {
			t.Errorf("clientKey(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// Ensure /metrics needs the key and exposes the three families, with the
// state gauge counted at scrape time.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.create(2, "", doctor, patient)
	e.create(2, "", doctor)
	e.do("GET", "/nope", "")
	wantStatus(t, e.do("GET", "/metrics", "", noKey()), http.StatusUnauthorized)
	w := e.do("GET", "/metrics", "")
	wantStatus(t, w, http.StatusOK)
	text := w.Body.String()
	for _, want := range []string{
		`teleconsult_http_requests_total{method="POST",route="/api/v1/telecons-be/teleconsultation",status="201"} 2`,
		`teleconsult_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`teleconsult_http_requests_total{method="GET",route="/metrics",status="401"} 1`,
		`teleconsult_http_request_duration_seconds_bucket{method="POST",route="/api/v1/telecons-be/teleconsultation",le="+Inf"} 2`,
		`teleconsult_teleconsultations{state="scheduled"} 1`,
		`teleconsult_teleconsultations{state="waiting_for_participants"} 1`,
		`teleconsult_teleconsultations{state="cancelled"} 0`,
		`teleconsult_teleconsultations{state="in_progress"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, `state="open"`) || strings.Contains(text, `state="expired"`) {
		t.Error("derived states are reported")
	}
}

// Ensure the server is usable over a real connection: 413 for a large
// body without reading it all, and the call page's fetch for a session.
func TestRealServer(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	req, _ := http.NewRequest("POST", ts.URL+api, strings.NewReader(strings.Repeat(" ", 2<<20)))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", resp.StatusCode)
	}
	resp, err = ts.Client().Post(ts.URL+Prefix+"/sessions", "application/json", strings.NewReader(sessionJSON("x")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", resp.StatusCode)
	}
}

// Ensure the requests of a quiet mount (static assets) log at debug level
// while failing ones, and every other route, log at info.
func TestQuietMountLogsAtDebug(t *testing.T) {
	asset := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("file") == "missing.js" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	e := newEnv(t, func(c *Config, _ *teleconsult.Settings) {
		c.Mounts = []Mount{
			{Method: "GET", Path: "/assets/{file}", Public: true, Handler: asset, Quiet: true},
			{Method: "GET", Path: "/page", Public: true, Handler: asset},
		}
	})
	tests := []struct {
		method, path string
		level        string
	}{
		{"GET", "/assets/call.js", "DEBUG"},
		{"HEAD", "/assets/call.js", "DEBUG"},
		{"GET", "/assets/missing.js", "INFO"},
		{"GET", "/page", "INFO"},
		{"GET", "/healthz", "INFO"},
	}
	for _, tt := range tests {
		before := len(e.logs.String())
		e.do(tt.method, tt.path, "", noKey())
		line := e.logs.String()[before:]
		if !strings.Contains(line, "level="+tt.level+` msg=request`) {
			t.Errorf("%s %s logged %q, want level %s", tt.method, tt.path, line, tt.level)
		}
	}
}

package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// metricsText scrapes /metrics.
func (e *env) metricsText() string {
	e.tb.Helper()
	w := e.do("GET", "/metrics", "")
	wantStatus(e.tb, w, http.StatusOK)
	return w.Body.String()
}

// Ensure a WebSocket's lifetime stays out of the request-latency
// histogram: the upgrade is counted (status 101), the histogram has no
// series for the route, while a plain request on the same server is in it.
func TestWebSocketNotInLatencyHistogram(t *testing.T) {
	const path = "/test/socket"
	hold := 300 * time.Millisecond
	e := newEnv(t, func(c *Config, _ *teleconsult.Settings) {
		c.Mounts = append(c.Mounts, Mount{Method: "GET", Path: path, Public: true, Handler: http.HandlerFunc(
			func(w http.ResponseWriter, r *http.Request) {
				ws, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				time.Sleep(hold)
				ws.Close(websocket.StatusNormalClosure, "")
			})})
	})
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("socket ended with %v", err)
	}
	ws.CloseNow()
	resp, err := ts.Client().Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var text string
	// The server's deferred accounting runs after the close reached the
	// client: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		text = e.metricsText()
		if strings.Contains(text, `route="`+path+`",status="101"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(text, `teleconsult_http_requests_total{method="GET",route="`+path+`",status="101"} 1`) {
		t.Errorf("the upgrade is not counted:\n%s", grep(text, "teleconsult_http_requests_total"))
	}
	if strings.Contains(text, `teleconsult_http_request_duration_seconds_count{method="GET",route="`+path+`"}`) {
		t.Errorf("the socket's lifetime is in the latency histogram:\n%s", grep(text, path))
	}
	if !strings.Contains(text, `teleconsult_http_request_duration_seconds_count{method="GET",route="/healthz"} 1`) {
		t.Errorf("a plain request is not in the histogram:\n%s", grep(text, "duration_seconds_count"))
	}
}

// grep returns the lines of text holding s.
func grep(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Ensure POST /sessions is counted by outcome: ok, unknown, not open, gone
// with its reason, bad request, rate limited.
func TestLinkExchangeMetrics(t *testing.T) {
	e := newEnv(t)
	id := e.create(2, "", doctor, patient)
	e.clock.Set(startAt.Add(-5 * time.Minute))
	code := linkCode(t, e.view(id, "p1")["accessLinkURL"])
	post := func(body string, opts ...reqOption) int {
		return e.do("POST", Prefix+"/sessions", body, append([]reqOption{noKey()}, opts...)...).Code
	}
	for _, want := range []int{201, 201} {
		if got := post(sessionJSON(code)); got != want {
			t.Fatalf("status %d, want %d", got, want)
		}
	}
	post(sessionJSON(strings.Repeat("A", 43)))
	post(`{"code":`)
	e.clock.Set(t0)
	post(sessionJSON(code)) // not open yet
	e.clock.Set(startAt.Add(-5 * time.Minute))
	wantStatus(t, e.do("DELETE", api+"/"+id, ""), http.StatusNoContent)
	post(sessionJSON(code)) // cancelled
	for range sessionBurst {
		post(sessionJSON("x"), fromAddr("203.0.113.9:1"))
	}
	post(sessionJSON("x"), fromAddr("203.0.113.9:1")) // rate limited

	text := e.metricsText()
	for outcome, n := range map[string]int{"ok": 2, "unauthorized": 1 + sessionBurst, "bad-request": 1, "not-open": 1,
		"cancelled": 1, "revoked": 0, "rate-limited": 1, "error": 0} {
		want := `teleconsult_link_exchanges_total{outcome="` + outcome + `"} ` + strconv.Itoa(n)
		if !strings.Contains(text+"\n", want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grep(text, "link_exchanges"))
		}
	}
}

// refusingMailer refuses every message for good.
type refusingMailer struct{}

func (refusingMailer) Send(context.Context, *teleconsult.Mail) error {
	return &teleconsult.MailError{Permanent: true, MessageOnly: true, Reason: "550 mailbox unavailable"}
}

// Ensure the outbox gauges follow the store at scrape time: a pending
// invitation and the age of the oldest by the service's clock, then a
// delivery failure once the worker has tried.
func TestOutboxMetrics(t *testing.T) {
	e := newEnv(t, func(_ *Config, s *teleconsult.Settings) { s.Invitations = true })
	e.create(2, "", doctor, patient) // the doctor has an email, the patient none
	e.clock.Add(90 * time.Second)
	text := e.metricsText()
	for _, want := range []string{
		`teleconsult_outbox_messages{kind="invite",status="pending"} 1`,
		`teleconsult_outbox_messages{kind="invite",status="failed"} 0`,
		`teleconsult_outbox_messages{kind="cancel",status="pending"} 0`,
		`teleconsult_outbox_oldest_pending_age_seconds{kind="invite"} 90`,
		`teleconsult_outbox_oldest_pending_age_seconds{kind="update"} 0`,
	} {
		if !strings.Contains(text+"\n", want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grep(text, "outbox"))
		}
	}
	o := &teleconsult.Outbox{Service: e.svc, Mailer: refusingMailer{}}
	if n, err := o.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	text = e.metricsText()
	for _, want := range []string{
		`teleconsult_outbox_messages{kind="invite",status="pending"} 0`,
		`teleconsult_outbox_messages{kind="invite",status="failed"} 1`,
		`teleconsult_outbox_oldest_pending_age_seconds{kind="invite"} 0`,
	} {
		if !strings.Contains(text+"\n", want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grep(text, "outbox"))
		}
	}
	if regexp.MustCompile(`outbox.*(Marker|example\.test)`).MatchString(text) {
		t.Error("patient data in the metrics")
	}
}

// Ensure teleconsult_ready follows the store: 1, then 0 while it fails.
func TestReadyMetric(t *testing.T) {
	e := newEnv(t)
	if text := e.metricsText(); !strings.Contains(text, "\nteleconsult_ready 1\n") {
		t.Errorf("ready store: %s", grep(text, "teleconsult_ready"))
	}
	e.spy.pingErr = errors.New("connection refused")
	if text := e.metricsText(); !strings.Contains(text, "\nteleconsult_ready 0\n") {
		t.Errorf("failing store: %s", grep(text, "teleconsult_ready"))
	}
}

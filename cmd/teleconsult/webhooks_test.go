package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/webhook"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookRequest is one POST as the receiver got it.
type hookRequest struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Status                   int // what the receiver answered
}

// hookReceiver is a webhook receiver: it answers status (204 by default)
// and, while hold is set, holds a request after reading it until release
// says what to answer.
type hookReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []hookRequest
	status  atomic.Int32
	hold    atomic.Bool
	held    chan struct{}
	release chan int
}

func startReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{held: make(chan struct{}, 16), release: make(chan int, 16)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		st := int(h.status.Load())
		if st == 0 {
			st = http.StatusNoContent
		}
		if h.hold.Load() {
			h.held <- struct{}{}
			st = <-h.release
		}
		h.mu.Lock()
		h.got = append(h.got, hookRequest{ID: r.Header.Get("Webhook-Id"), Timestamp: r.Header.Get("Webhook-Timestamp"),
			Signature: r.Header.Get("Webhook-Signature"), Body: body, Status: st})
		h.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(h.Close)
	return h
}

// accepted returns the requests answered 2xx.
func (h *hookReceiver) accepted() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookRequest
	for _, r := range h.got {
		if r.Status < 300 {
			out = append(out, r)
		}
	}
	return out
}

// wait waits until n requests were accepted.
func (h *hookReceiver) wait(t *testing.T, n int, within time.Duration) []hookRequest {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := h.accepted()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d webhook requests accepted, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkSigned checks a request's Standard Webhooks signature (the
// independent check with the standardwebhooks library is in
// internal/webhook) and returns its payload.
func checkSigned(t *testing.T, r hookRequest) teleconsult.HookPayload {
	t.Helper()
	key, _ := teleconsult.ParseWebhookSecret(testWebhookSecret)
	ts, err := strconv.ParseInt(r.Timestamp, 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q", r.Timestamp)
	}
	if want := webhook.Sign(key, r.ID, time.Unix(ts, 0), r.Body); r.Signature != want {
		t.Errorf("signature %q, want %q", r.Signature, want)
	}
	var p teleconsult.HookPayload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Ensure the whole service delivers signed events of the API's changes,
// shows their delivery state, retries a receiver that was down for an hour
// (the service's clock moved) and then delivers everything in order.
func TestWebhooksThroughTheService(t *testing.T) {
	rcv := startReceiver(t)
	rcv.status.Store(http.StatusServiceUnavailable)
	s := startServer(t, map[string]string{"WEBHOOK_URL": rcv.URL + "/hooks", "WEBHOOK_SECRET": testWebhookSecret})
	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	var created struct {
		RoomID string
	}
	if st := s.do(t, "POST", api+"/teleconsultation", "", createBody(start, anna, mario), &created); st != 201 {
		t.Fatalf("create: %d", st)
	}
	id := created.RoomID
	if st := s.do(t, "DELETE", api+"/teleconsultation/"+id, "", nil, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	type deliveries struct {
		TeleconsultationID string
		Deliveries         []struct {
			WebhookID, Receiver, Type, Status, Reason, NextAttemptAt string
			Attempts, LastStatus                                     int
			Payload                                                  teleconsult.HookPayload
		}
	}
	// The receiver is down: the first event waits, tried; the second waits behind it, untried.
	deadline := time.Now().Add(10 * time.Second)
	var d deliveries
	for {
		d = deliveries{}
		if st := s.do(t, "GET", api+"/teleconsultation/"+id+"/webhooks", "", nil, &d); st != 200 {
			t.Fatalf("deliveries: %d", st)
		}
		if len(d.Deliveries) == 2 && d.Deliveries[0].Attempts > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(d.Deliveries) != 2 {
		t.Fatalf("deliveries %+v", d)
	}
	first, second := d.Deliveries[0], d.Deliveries[1]
	if first.Type != "teleconsultation.created" || first.Status != "pending" || first.LastStatus != 503 || first.Receiver != "default" ||
		!strings.Contains(first.Reason, "503") || first.NextAttemptAt == "" || first.Payload.Data.TeleconsultationID != id {
		t.Errorf("first delivery %+v", first)
	}
	if second.Type != "teleconsultation.cancelled" || second.Status != "pending" || second.Attempts != 0 {
		t.Errorf("second delivery %+v", second)
	}
	// An hour later the receiver is back.
	rcv.status.Store(http.StatusOK)
	s.Clock.Set(s.Clock.Now().Add(time.Hour))
	got := rcv.wait(t, 2, 10*time.Second)
	if p0, p1 := checkSigned(t, got[0]), checkSigned(t, got[1]); p0.Type != teleconsult.HookCreated || p1.Type != teleconsult.HookCancelled {
		t.Errorf("delivered %s then %s", p0.Type, p1.Type)
	}
	if got[0].ID != first.WebhookID {
		t.Errorf("webhook-id %s, the delivery state said %s", got[0].ID, first.WebhookID)
	}
	for _, r := range got {
		for _, leak := range []string{"Anna", "Mario", "example.org", "/join/"} {
			if strings.Contains(string(r.Body), leak) {
				t.Errorf("payload holds %q: %s", leak, r.Body)
			}
		}
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		d = deliveries{}
		s.do(t, "GET", api+"/teleconsultation/"+id+"/webhooks", "", nil, &d)
		if d.Deliveries[1].Status == "sent" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, x := range d.Deliveries {
		if x.Status != "sent" {
			t.Errorf("%s: %s", x.Type, x.Status)
		}
	}
	var e errorBody
	if st := s.do(t, "GET", api+"/teleconsultation/0123456789abcdef0123456789abcdef/webhooks", "", nil, &e); st != 404 {
		t.Errorf("unknown teleconsultation: %d", st)
	}
	if st := s.do(t, "GET", "/api/v1/telecons-be/teleconsultation/"+id+"/webhooks", "", nil, nil); st != 200 {
		t.Errorf("with the key: %d", st)
	}
	s.Key = "wrong-key-0123456789abcdef"
	if st := s.do(t, "GET", api+"/teleconsultation/"+id+"/webhooks", "", nil, nil); st != 401 {
		t.Errorf("without the key: %d", st)
	}
}

// hookCrashRun kills the service with -9 while one event is in flight and
// another is committed but not delivered, then restarts it. acceptHeld says
// whether the receiver accepts the event it was reading when the sender
// died. It returns the distinct events accepted and the duplicates.
func hookCrashRun(t *testing.T, acceptHeld bool) (distinct, duplicates int) {
	rcv := startReceiver(t)
	env := map[string]string{"DATA_DIR": t.TempDir(), "API_KEYS": testAPIKey,
		"WEBHOOK_URL": rcv.URL + "/hooks", "WEBHOOK_SECRET": testWebhookSecret}
	c := startChild(t, env)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	rcv.hold.Store(true)
	c.create(t, start, 1)
	select {
	case <-rcv.held:
	case <-time.After(20 * time.Second):
		t.Fatalf("no event reached the receiver:\n%s", c.logs.String())
	}
	c.create(t, start, 2) // committed while the worker waits on the first
	c.kill(t)
	rcv.hold.Store(false)
	if acceptHeld {
		rcv.release <- http.StatusOK
	} else {
		rcv.release <- http.StatusServiceUnavailable
	}

	c = startChild(t, env)
	rcv.wait(t, 2, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive meanwhile
	seen := map[string]int{}
	for _, r := range rcv.accepted() {
		checkSigned(t, r)
		seen[r.ID]++
	}
	for _, n := range seen {
		duplicates += n - 1
	}
	if !strings.Contains(c.logs.String(), "events were being delivered when the service stopped") {
		t.Errorf("the restarted service did not report the interrupted delivery:\n%s", c.logs.String())
	}
	return len(seen), duplicates
}

// Ensure a kill -9 loses no event: after restart every committed event is
// delivered; the one in flight again, with the same webhook-id, so that a
// receiver that had taken it can drop the duplicate.
func TestWebhooksSurviveKill9(t *testing.T) {
	t.Parallel()
	t.Run("in flight, not accepted", func(t *testing.T) {
		n, dup := hookCrashRun(t, false)
		t.Logf("kill -9 while the receiver held an event it then refused: %d distinct events delivered, %d duplicates", n, dup)
		if n != 2 || dup != 0 {
			t.Errorf("%d distinct events, %d duplicates; want 2 and 0", n, dup)
		}
	})
	t.Run("in flight, accepted", func(t *testing.T) {
		n, dup := hookCrashRun(t, true)
		t.Logf("kill -9 while the receiver held an event it then accepted: %d distinct events delivered, %d duplicates", n, dup)
		if n != 2 || dup != 1 {
			t.Errorf("%d distinct events, %d duplicates; want 2 and 1", n, dup)
		}
	})
}

// Ensure bad webhook settings stop the start naming the variable, without
// repeating a secret, and that neither config check nor its JSON shows a
// secret; plain http to another host is a warning.
func TestWebhookConfig(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WEBHOOK_URL": "ftp://hooks.example/x", "WEBHOOK_SECRET": testWebhookSecret}, `WEBHOOK_URL=ftp://hooks.example/x: expected an absolute http`},
		{map[string]string{"WEBHOOK_URL": "https://u:p@hooks.example/x", "WEBHOOK_SECRET": testWebhookSecret}, "WEBHOOK_URL="},
		{map[string]string{"WEBHOOK_URL": "https://hooks.example/x", "WEBHOOK_SECRET": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "WEBHOOK_SECRET: expected whsec_"},
		{map[string]string{"WEBHOOK_URL": "https://hooks.example/x", "WEBHOOK_SECRET": "whsec_c2hvcnQtc2VjcmV0"}, "WEBHOOK_SECRET: expected whsec_"},
		{map[string]string{"WEBHOOK_URL": "https://hooks.example/x"}, "WEBHOOK_SECRET: required with WEBHOOK_URL"},
		{map[string]string{"WEBHOOK_SECRET": testWebhookSecret}, "WEBHOOK_URL: required with WEBHOOK_SECRET"},
		{map[string]string{"WEBHOOK_TIMEOUT": "2m"}, "WEBHOOK_TIMEOUT="},
	} {
		_, err := LoadConfig(env(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
			continue
		}
		for _, secret := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "c2hvcnQtc2VjcmV0"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error repeats the secret: %v", err)
			}
		}
	}
	const fileSecret = "whsec_ZmlsZS1zZWNyZXQtZmlsZS1zZWNyZXQtZmlsZS1zZWNyZXQ="
	path := writeFile(t, "config.json", `{"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": ["doctor"]}},
		"webhooks": [{"name": "ehr", "url": "http://ehr.clinic.example/hooks", "secret": "`+fileSecret+`", "events": ["call.started", "call.ended"]}]}`)
	c := mustLoad(t, map[string]string{"WEBHOOK_URL": "https://hooks.example/x", "WEBHOOK_SECRET": testWebhookSecret,
		"TELECONSULTATION_SERVICE_CONFIG_PATH": path})
	var b strings.Builder
	c.Print(&b)
	for _, secret := range []string{testWebhookSecret[6:], fileSecret[6:]} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("config check shows a secret:\n%s", b.String())
		}
	}
	if !strings.Contains(b.String(), "\nWEBHOOK_SECRET=****** (set)  # env\n") || !strings.Contains(b.String(), `"secret": "******"`) {
		t.Errorf("config check does not mask the secrets:\n%s", b.String())
	}
	eps := c.Settings().Webhooks
	if len(eps) != 2 || eps[0].Name != "default" || eps[1].Name != "ehr" || !eps[1].Wants(teleconsult.HookCallEnded) || eps[1].Wants(teleconsult.HookCreated) {
		t.Errorf("receivers %+v", eps)
	}
	warns := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(warns, "webhook receiver ehr: plain http to ehr.clinic.example") {
		t.Errorf("warnings %q", warns)
	}
	dup := writeFile(t, "dup.json", `{"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": ["doctor"]}},
		"webhooks": [{"name": "default", "url": "https://a.example/", "secret": "`+fileSecret+`"}]}`)
	if _, err := LoadConfig(env(map[string]string{"WEBHOOK_URL": "https://hooks.example/x", "WEBHOOK_SECRET": testWebhookSecret,
		"TELECONSULTATION_SERVICE_CONFIG_PATH": dup})); err == nil || !strings.Contains(err.Error(), `webhooks[0].name: "default" is WEBHOOK_URL's receiver`) {
		t.Errorf("a file receiver named default: %v", err)
	}
	bad := writeFile(t, "bad.json", `{"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": ["doctor"]}},
		"webhooks": [{"name": "ehr", "url": "https://a.example/", "secret": "whsec_c2hvcnQtc2VjcmV0"}]}`)
	if _, err := LoadConfig(env(map[string]string{"TELECONSULTATION_SERVICE_CONFIG_PATH": bad})); err == nil ||
		!strings.Contains(err.Error(), "TELECONSULTATION_SERVICE_CONFIG_PATH") || strings.Contains(err.Error(), "c2hvcnQtc2VjcmV0") {
		t.Errorf("a short secret in the file: %v", err)
	}
}

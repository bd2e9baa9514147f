package fhir_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/fhir"
	"github.com/teleconsult/teleconsult/internal/inmem"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
	"github.com/teleconsult/teleconsult/internal/testkit"
)

var ctx = context.Background()

// service is a domain service over an in-memory store holding tcs, at
// clock.
func service(t testing.TB, clock *testkit.Clock, tcs ...*teleconsult.Teleconsultation) *teleconsult.Service {
	t.Helper()
	st := inmem.NewStore()
	if len(tcs) > 0 {
		if err := st.Apply(ctx, teleconsult.Change{Create: tcs}); err != nil {
			t.Fatal(err)
		}
	}
	return &teleconsult.Service{Store: st, Settings: *settings(false), Now: clock.Now}
}

// serve mounts the handlers as the wiring does.
func serve(h *fhir.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET "+fhir.AppointmentPath, h.Appointment())
	mux.Handle("GET "+fhir.EncounterPath, h.Encounter())
	return mux
}

func get(t *testing.T, mux http.Handler, path string) (int, http.Header, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: %d %q: %v", path, rec.Code, rec.Body.String(), err)
	}
	return rec.Code, rec.Header(), body
}

// Ensure the read routes answer the resources as application/fhir+json,
// an unknown or malformed id with a 404 OperationOutcome, and a store
// failure with a 500 one that does not say why.
func TestHandlerRead(t *testing.T) {
	clock := testkit.NewClock(start.Add(5 * time.Minute))
	svc := service(t, clock, withCall(visit(teleconsult.StateInProgress)))
	mux := serve(&fhir.Handler{Service: svc})
	for _, typ := range []string{"Appointment", "Encounter"} {
		code, h, body := get(t, mux, "/fhir/"+typ+"/"+visitID)
		if code != 200 || h.Get("Content-Type") != "application/fhir+json; charset=utf-8" || body["resourceType"] != typ || body["id"] != visitID {
			t.Errorf("GET %s: %d %s %v", typ, code, h.Get("Content-Type"), body)
		}
	}
	_, _, enc := get(t, mux, "/fhir/Encounter/"+visitID)
	if enc["status"] != "in-progress" {
		t.Errorf("encounter status %v", enc["status"])
	}
	for _, path := range []string{"/fhir/Encounter/fedcba9876543210fedcba9876543210", "/fhir/Appointment/no_such%20id", "/fhir/Appointment/" + strings.Repeat("a", 65)} {
		code, h, body := get(t, mux, path)
		issues, _ := body["issue"].([]any)
		if code != 404 || body["resourceType"] != "OperationOutcome" || len(issues) != 1 || !strings.HasPrefix(h.Get("Content-Type"), fhir.ContentType) {
			t.Errorf("GET %s: %d %v", path, code, body)
			continue
		}
		if is := issues[0].(map[string]any); is["severity"] != "error" || is["code"] != "not-found" {
			t.Errorf("GET %s: issue %v", path, is)
		}
	}
	broken := &teleconsult.Service{Store: failingStore{svc.Store}, Settings: svc.Settings, Now: clock.Now}
	code, _, body := get(t, serve(&fhir.Handler{Service: broken}), "/fhir/Appointment/"+visitID)
	if code != 500 || body["resourceType"] != "OperationOutcome" || strings.Contains(marshal(t, body), "disk") {
		t.Errorf("store failure: %d %v", code, body)
	}
}

// failingStore fails every read.
type failingStore struct{ teleconsult.Store }

func (failingStore) FindByID(context.Context, string) (*teleconsult.Teleconsultation, error) {
	return nil, &teleconsult.Error{Code: teleconsult.EINTERNAL, Message: "disk on fire"}
}

// fhirServer is a fake FHIR server: it keeps the Encounters PUT to it,
// answers 503 while down, and 201 then 200 as R4's update does.
type fhirServer struct {
	mu     sync.Mutex
	down   bool
	tries  int
	auth   []string
	puts   []string // the Encounter's status, in order received
	bodies map[string]map[string]any
}

func (f *fhirServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	id, ok := strings.CutPrefix(r.URL.Path, "/r4/Encounter/")
	if r.Method != http.MethodPut || !ok || r.Header.Get("Content-Type") != "application/fhir+json; charset=utf-8" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if f.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var enc map[string]any
	if err := json.Unmarshal(b, &enc); err != nil || enc["id"] != id || enc["resourceType"] != "Encounter" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.puts = append(f.puts, enc["status"].(string))
	st := http.StatusOK
	if f.bodies[id] == nil {
		st = http.StatusCreated
	}
	f.bodies[id] = enc
	w.Header().Set("Content-Type", fhir.ContentType)
	w.WriteHeader(st)
	_, _ = w.Write(b)
}

func (f *fhirServer) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// Ensure a FHIR server configured as an outbox receiver gets the
// Encounter on call start and on call end, in order, with the
// authorization header, after answering 503 for a while: the updates wait
// in the outbox and are retried with backoff, and none is lost or
// reordered.
func TestTargetReceivesEncounterUpdates(t *testing.T) {
	fs := &fhirServer{down: true, bodies: map[string]map[string]any{}}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	clock := testkit.NewClock(start.Add(-time.Minute))
	svc := service(t, clock, visit(teleconsult.StateScheduled))
	target := fhir.NewTarget(fhir.Options{}, &svc.Settings, "Bearer fhir-token", 5*time.Second, nil)
	svc.Settings.Webhooks = []teleconsult.WebhookEndpoint{{Name: "fhir", URL: srv.URL + "/r4/", Events: fhir.TargetEvents, Target: target}}
	o := &teleconsult.WebhookOutbox{Service: svc, Sender: unusedSender{t}}
	svc.Hooks = o
	drain := func() {
		t.Helper()
		for range 50 {
			n, err := o.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
		t.Fatal("the outbox never empties")
	}

	clock.Set(start.Add(time.Minute))
	if err := svc.CallStarted(ctx, visitID); err != nil {
		t.Fatal(err)
	}
	drain() // 503
	clock.Set(start.Add(11 * time.Minute))
	if err := svc.CallEnded(ctx, visitID); err != nil {
		t.Fatal(err)
	}
	for m := 11; m < 40; m++ { // still down; the worker polls every minute
		clock.Set(start.Add(time.Duration(m) * time.Minute))
		drain()
	}
	fs.mu.Lock()
	downTries := fs.tries
	fs.mu.Unlock()
	if downTries < 3 || downTries > 10 {
		t.Errorf("%d attempts while down for 40 minutes: want a few, backing off", downTries)
	}
	ds, err := svc.WebhookDeliveries(ctx, visitID)
	if err != nil || len(ds) != 2 || ds[0].Status != teleconsult.DeliveryPending || ds[0].LastStatus != 503 || ds[1].Attempts != 0 {
		t.Fatalf("while down: %v %s", err, summary(ds))
	}
	fs.setDown(false)
	clock.Set(start.Add(3 * time.Hour))
	drain()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if got := strings.Join(fs.puts, ","); got != "in-progress,finished" {
		t.Errorf("the server got %s, want in-progress,finished", got)
	}
	for _, a := range fs.auth {
		if a != "Bearer fhir-token" {
			t.Errorf("Authorization %q", a)
		}
	}
	enc := fs.bodies[visitID]
	period, _ := enc["period"].(map[string]any)
	if period["start"] != "2026-11-23T10:01:00.000Z" || period["end"] != "2026-11-23T10:11:00.000Z" {
		t.Errorf("period %v", enc["period"])
	}
	if s := marshal(t, enc); strings.Contains(s, "display\":\"Dr") || strings.Contains(s, `"reference":"Appointment/`) {
		t.Errorf("the server's Encounter: %s", s)
	}
	ds, _ = svc.WebhookDeliveries(ctx, visitID)
	for _, d := range ds {
		if d.Status != teleconsult.DeliverySent || d.Endpoint != "fhir" {
			t.Errorf("%s: %s after %d attempts (%s)", d.Type, d.Status, d.Attempts, d.LastError)
		}
	}
}

// unusedSender fails the test: a HookTarget receiver never goes through
// the outbox's webhook sender.
type unusedSender struct{ t *testing.T }

func (u unusedSender) Send(context.Context, *teleconsult.WebhookDelivery) error {
	u.t.Error("the webhook sender was used for the FHIR receiver")
	return nil
}

// Ensure the server's answers are classified as the outbox needs: a 4xx
// other than 408 and 429 fails at once, other failures are retried, and a
// redirect is not followed.
func TestTargetAnswers(t *testing.T) {
	for _, c := range []struct {
		status    int
		ok, final bool
	}{{200, true, false}, {201, true, false}, {400, false, true}, {422, false, true}, {408, false, false}, {429, false, false}, {500, false, false}, {503, false, false}, {307, false, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.status == 307 {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(c.status)
		}))
		target := fhir.NewTarget(fhir.Options{}, settings(false), "", time.Second, nil)
		err := target.Send(ctx, &teleconsult.WebhookDelivery{URL: srv.URL, TeleconsultationID: visitID, Body: []byte(`{}`)})
		srv.Close()
		var we *teleconsult.WebhookError
		switch {
		case c.ok && err != nil:
			t.Errorf("%d: %v", c.status, err)
		case !c.ok && (err == nil || !asWebhookError(err, &we) || we.Permanent != c.final || we.Status != c.status):
			t.Errorf("%d: %v (%+v)", c.status, err, we)
		}
	}
	// No server: a temporary failure.
	target := fhir.NewTarget(fhir.Options{}, settings(false), "", time.Second, nil)
	err := target.Send(ctx, &teleconsult.WebhookDelivery{URL: "http://127.0.0.1:1", TeleconsultationID: visitID, Body: []byte(`{}`)})
	var we *teleconsult.WebhookError
	if !asWebhookError(err, &we) || we.Permanent {
		t.Errorf("no server: %v", err)
	}
}

func asWebhookError(err error, we **teleconsult.WebhookError) bool {
	return errors.As(err, we)
}

// Ensure CheckServerURL takes base URLs and refuses the rest.
func TestCheckServerURL(t *testing.T) {
	for _, ok := range []string{"https://fhir.example.org/r4", "http://127.0.0.1:8080/fhir/", "https://h"} {
		if err := fhir.CheckServerURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "fhir.example.org", "ftp://h/r4", "https://user:pw@h/r4", "https://h/r4?x=1", "https://h/r4#f", "https:///r4", "https://h/r4?"} {
		if err := fhir.CheckServerURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// summary describes delivery states without their payloads.
func summary(ds []teleconsult.WebhookMessage) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "[%s to %s: %s, %d attempts, last %d %s] ", d.Type, d.Endpoint, d.Status, d.Attempts, d.LastStatus, d.LastError)
	}
	return b.String()
}

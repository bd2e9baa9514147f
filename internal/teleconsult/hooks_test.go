package teleconsult_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// fakeSender records deliveries; fail decides each result.
type fakeSender struct {
	mu   sync.Mutex
	got  []tc.WebhookDelivery
	fail func(d *tc.WebhookDelivery) error
}

func (s *fakeSender) Send(_ context.Context, d *tc.WebhookDelivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(d); err != nil {
			return err
		}
	}
	s.got = append(s.got, *d)
	return nil
}

// types are the event types delivered, in order, to url, about the
// teleconsultations ids (all when none are given).
func (s *fakeSender) types(t *testing.T, url string, ids ...string) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.got {
		p := payloadOf(t, d.Body)
		if d.URL == url && (len(ids) == 0 || slices.Contains(ids, p.Data.TeleconsultationID)) {
			out = append(out, string(p.Type))
		}
	}
	return out
}

func payloadOf(t *testing.T, b []byte) tc.HookPayload {
	t.Helper()
	var p tc.HookPayload
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("payload %s: %v", b, err)
	}
	return p
}

var secretA = []byte("0123456789abcdef0123456789abcdef")

// hooksOn configures receiver "a" (every event) and "b" (cancellations
// and call events only).
func hooksOn(s *tc.Settings) {
	s.Webhooks = []tc.WebhookEndpoint{
		{Name: "a", URL: "https://a.test/hook", Secret: secretA},
		{Name: "b", URL: "https://b.test/hook", Secret: secretA, Events: []tc.WebhookEvent{tc.HookCancelled, tc.HookCallStarted, tc.HookCallEnded}},
	}
}

func hookFixture(t *testing.T, mod func(*tc.Settings)) (*fixture, *fakeSender, *tc.WebhookOutbox) {
	t.Helper()
	f := newFixture(t, func(s *tc.Settings) {
		hooksOn(s)
		if mod != nil {
			mod(s)
		}
	})
	snd := &fakeSender{}
	o := &tc.WebhookOutbox{Service: f.svc, Sender: snd}
	f.svc.Hooks = o
	return f, snd, o
}

func drain(t *testing.T, o *tc.WebhookOutbox) {
	t.Helper()
	for range 100 {
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

// Ensure each change writes its events with the change, one per receiver
// whose filter takes it, and that payloads carry ids, states and times but
// no name, email or link.
func TestHooksEvents(t *testing.T) {
	f, snd, o := hookFixture(t, nil)
	in := validCreate()
	in.AppointmentID = "appt-1"
	id, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	patch := start.Add(15 * time.Minute)
	if err := f.svc.Update(ctx, id, tc.UpdateInput{StartDate: &patch}); err != nil {
		t.Fatal(err)
	}
	id2, err := f.svc.Create(ctx, in) // replaces id
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(patch)
	if err := f.svc.CallStarted(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ParticipantJoined(ctx, id2, "doc-1"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ParticipantLeft(ctx, id2, "doc-1"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.CallEnded(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Cancel(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ParticipantJoined(ctx, id2, "doc-1"); tc.ErrorCode(err) != tc.EGONE {
		t.Errorf("a join after the cancellation: %v, want gone", err)
	}
	// Written with the changes, before any delivery.
	if n := len(f.store.Webhooks()); n != 12 {
		t.Fatalf("%d events stored, want 12", n)
	}
	drain(t, o)
	// In order per visit (the two visits' events may interleave).
	if got, want := snd.types(t, "https://a.test/hook", id), []string{"teleconsultation.created", "teleconsultation.updated", "teleconsultation.replaced"}; !slices.Equal(got, want) {
		t.Errorf("receiver a got %v about the first visit, want %v", got, want)
	}
	wantA := []string{"teleconsultation.created", "call.started", "participant.joined", "participant.left", "call.ended", "teleconsultation.cancelled"}
	if got := snd.types(t, "https://a.test/hook", id2); !slices.Equal(got, wantA) {
		t.Errorf("receiver a got %v about the second, want %v", got, wantA)
	}
	if got, want := snd.types(t, "https://b.test/hook"), []string{"call.started", "call.ended", "teleconsultation.cancelled"}; !slices.Equal(got, want) {
		t.Errorf("receiver b got %v, want %v", got, want)
	}
	ids := map[string]bool{}
	for _, d := range snd.got {
		body := string(d.Body)
		for _, secret := range []string{"Anna", "Verdi", "Mario", "Rossi", "anna@example.org", "/join/", "http"} {
			if strings.Contains(body, secret) {
				t.Errorf("payload holds %q: %s", secret, body)
			}
		}
		p := payloadOf(t, d.Body)
		if !strings.HasPrefix(d.ID, "msg_") || len(d.ID) != 36 {
			t.Errorf("webhook-id %q", d.ID)
		}
		ids[d.ID+d.URL] = true
		switch p.Type {
		case tc.HookReplaced:
			if p.Data.TeleconsultationID != id || p.Data.ReplacedBy != id2 || p.Data.State != "replaced" {
				t.Errorf("replaced: %+v", p.Data)
			}
		case tc.HookCreated:
			if p.Data.TeleconsultationID == id2 && p.Data.Replaces != id {
				t.Errorf("created by replacement: replaces %q", p.Data.Replaces)
			}
			if p.Data.State != "scheduled" || p.Data.AppointmentID != "appt-1" || len(p.Data.Participants) != 2 || p.Data.Version != 1 {
				t.Errorf("created: %+v", p.Data)
			}
		case tc.HookUpdated:
			if p.Data.StartDate != "2026-11-23T10:15:00.000Z" || p.Data.Version != 2 {
				t.Errorf("updated: %+v", p.Data)
			}
		case tc.HookCallStarted:
			if p.Data.State != "in_progress" || p.Data.CallStartedAt == "" {
				t.Errorf("call.started: %+v", p.Data)
			}
		case tc.HookParticipantJoined, tc.HookParticipantLeft:
			if p.Data.Participant == nil || p.Data.Participant.UserID != "doc-1" || p.Data.Participant.Role != "plus" {
				t.Errorf("%s: %+v", p.Type, p.Data.Participant)
			}
		case tc.HookCancelled:
			if p.Data.State != "cancelled" {
				t.Errorf("cancelled: %+v", p.Data)
			}
		}
	}
	if len(ids) != len(snd.got) {
		t.Errorf("%d deliveries share webhook-ids: %d distinct", len(snd.got), len(ids))
	}
	// The delivery state says sent.
	ds, err := f.svc.WebhookDeliveries(ctx, id2)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Status != tc.DeliverySent || d.Attempts != 1 || d.SentAt.IsZero() {
			t.Errorf("%s to %s: %s after %d attempts", d.Type, d.Endpoint, d.Status, d.Attempts)
		}
	}
	if _, err := f.svc.WebhookDeliveries(ctx, "0123456789abcdef0123456789abcdef"); tc.ErrorCode(err) != tc.ENOTFOUND {
		t.Errorf("unknown teleconsultation: %v", err)
	}
}

// Ensure nothing is written while no receiver is configured.
func TestHooksOff(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ParticipantJoined(ctx, id, "doc-1"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := len(f.store.Webhooks()); n != 0 {
		t.Errorf("%d events written without receivers", n)
	}
}

// Ensure a receiver that is down for an hour gets every event afterwards,
// in order, with the same webhook-id on every attempt; backoff spaces the
// attempts and holds the receiver's other events back without counting
// their attempts; the other receiver is not held back.
func TestHooksReceiverDownForAnHour(t *testing.T) {
	f, snd, o := hookFixture(t, nil)
	t0 := f.clock.Now()
	down := true
	var attempts []time.Time
	ids := map[string]map[string]bool{} // event type → webhook-ids seen
	snd.fail = func(d *tc.WebhookDelivery) error {
		if d.URL != "https://a.test/hook" {
			return nil
		}
		typ := string(payloadOf(t, d.Body).Type)
		if ids[typ] == nil {
			ids[typ] = map[string]bool{}
		}
		ids[typ][d.ID] = true
		if down {
			attempts = append(attempts, f.clock.Now())
			return &tc.WebhookError{Status: 503, Reason: "the receiver answered 503 Service Unavailable"}
		}
		return nil
	}
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	// An hour of the receiver being down, the worker polling each second
	// of a minute.
	for now := t0; now.Before(t0.Add(time.Hour)); now = now.Add(time.Minute) {
		f.clock.Set(now)
		drain(t, o)
	}
	if got := snd.types(t, "https://b.test/hook"); !slices.Equal(got, []string{"teleconsultation.cancelled"}) {
		t.Errorf("receiver b, up all along, got %v", got)
	}
	// 10 s, 20 s, 40 s, … doubled: about 9 attempts in the hour, not one a minute.
	if n := len(attempts); n < 6 || n > 10 {
		t.Errorf("%d attempts in an hour down, want about 9: %v", n, attempts)
	}
	ds, _ := f.svc.WebhookDeliveries(ctx, id)
	for _, d := range ds {
		if d.Endpoint != "a" {
			continue
		}
		if d.Status != tc.DeliveryPending {
			t.Fatalf("%s: %s after an hour down", d.Type, d.Status)
		}
		if d.Type == tc.HookCancelled && d.Attempts != 0 {
			t.Errorf("the later event was tried %d times while the earlier one waited", d.Attempts)
		}
		if d.Type == tc.HookCreated && (d.LastStatus != 503 || !strings.Contains(d.LastError, "503")) {
			t.Errorf("created: last status %d, reason %q", d.LastStatus, d.LastError)
		}
	}
	down = false
	f.clock.Set(t0.Add(3 * time.Hour))
	drain(t, o)
	if got, want := snd.types(t, "https://a.test/hook"), []string{"teleconsultation.created", "teleconsultation.cancelled"}; !slices.Equal(got, want) {
		t.Errorf("after the receiver came back: %v, want %v", got, want)
	}
	for typ, seen := range ids {
		if len(seen) != 1 {
			t.Errorf("%s was sent under %d webhook-ids", typ, len(seen))
		}
	}
}

// Ensure the outcome of each kind of answer: a 4xx other than 408 and 429
// fails at once, with the reason, and frees the next event; others are
// retried until MaxAttempts.
func TestHooksFailures(t *testing.T) {
	for _, tt := range []struct {
		name     string
		err      error
		status   tc.DeliveryStatus
		attempts int
	}{
		{"410", &tc.WebhookError{Permanent: true, Status: 410, Reason: "the receiver refused the event: 410 Gone"}, tc.DeliveryFailed, 1},
		{"429", &tc.WebhookError{Status: 429, Reason: "the receiver answered 429"}, tc.DeliveryFailed, 3},
		{"no answer", fmt.Errorf("dial tcp: connection refused"), tc.DeliveryFailed, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, snd, o := hookFixture(t, func(s *tc.Settings) { s.Webhooks = s.Webhooks[:1] })
			o.MaxAttempts = 3
			id, err := f.svc.Create(ctx, validCreate())
			if err != nil {
				t.Fatal(err)
			}
			if err := f.svc.Cancel(ctx, id); err != nil {
				t.Fatal(err)
			}
			snd.fail = func(d *tc.WebhookDelivery) error {
				if payloadOf(t, d.Body).Type == tc.HookCreated {
					return tt.err
				}
				return nil
			}
			for i := range 10 {
				f.clock.Set(start.Add(time.Duration(i) * 2 * time.Hour))
				drain(t, o)
			}
			ds, _ := f.svc.WebhookDeliveries(ctx, id)
			if len(ds) != 2 {
				t.Fatalf("%d deliveries", len(ds))
			}
			if d := ds[0]; d.Status != tt.status || d.Attempts != tt.attempts || d.LastError == "" {
				t.Errorf("created: %s after %d attempts (%q), want %s after %d", d.Status, d.Attempts, d.LastError, tt.status, tt.attempts)
			}
			if ds[1].Status != tc.DeliverySent {
				t.Errorf("the next event, once the first was given up: %s", ds[1].Status)
			}
		})
	}
}

// Ensure an invitation given up tells the receivers, with the same
// durability as the delivery state: written by MarkOutbox.
func TestHooksInvitationFailed(t *testing.T) {
	f, snd, o := hookFixture(t, func(s *tc.Settings) { s.Invitations = true })
	mailer := &fakeMailer{fail: func(*tc.Mail) error {
		return &tc.MailError{Permanent: true, MessageOnly: true, Reason: "550 5.1.1 user unknown"}
	}}
	mo := &tc.Outbox{Service: f.svc, Mailer: mailer}
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	runOnce(t, mo)
	drain(t, o)
	var failed []tc.HookPayload
	for _, d := range snd.got {
		if p := payloadOf(t, d.Body); p.Type == tc.HookInvitationFailed && d.URL == "https://a.test/hook" {
			failed = append(failed, p)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("%d invitation.failed events, want 1 (one participant has an email)", len(failed))
	}
	inv := failed[0].Data.Invitation
	if inv == nil || inv.UserID != "doc-1" || inv.Kind != "invite" || inv.Reason != "550 5.1.1 user unknown" || failed[0].Data.TeleconsultationID != id {
		t.Errorf("invitation.failed: %+v", inv)
	}
	if strings.Contains(fmt.Sprint(failed), "anna@example.org") {
		t.Error("the event names the address")
	}
}

// Ensure the configuration's receivers are checked: names, URLs, secrets
// and event types, with the JSON path in the error, and a warning for
// plain http to another host.
func TestCheckWebhooks(t *testing.T) {
	ok := func() tc.WebhookEndpoint {
		return tc.WebhookEndpoint{Name: "ehr", URL: "https://ehr.example/hooks", Secret: secretA}
	}
	for _, tt := range []struct {
		name string
		mod  func(*tc.WebhookEndpoint)
		want string // error, or "warn:" + warning
	}{
		{"valid", func(*tc.WebhookEndpoint) {}, ""},
		{"loopback http", func(e *tc.WebhookEndpoint) { e.URL = "http://127.0.0.1:9000/h" }, ""},
		{"plain http", func(e *tc.WebhookEndpoint) { e.URL = "http://ehr.example/h" }, "warn:plain http to ehr.example"},
		{"ftp", func(e *tc.WebhookEndpoint) { e.URL = "ftp://ehr.example/h" }, "webhooks[0].url: expected an absolute http"},
		{"relative", func(e *tc.WebhookEndpoint) { e.URL = "/hooks" }, "webhooks[0].url"},
		{"user info", func(e *tc.WebhookEndpoint) { e.URL = "https://u:p@ehr.example/" }, "webhooks[0].url: must not hold a user name"},
		{"no secret", func(e *tc.WebhookEndpoint) { e.Secret = nil }, "webhooks[0].secret: required"},
		{"bad name", func(e *tc.WebhookEndpoint) { e.Name = "EHR system" }, "webhooks[0].name"},
		{"bad event", func(e *tc.WebhookEndpoint) { e.Events = []tc.WebhookEvent{"call.exploded"} }, `webhooks[0].events[0]: "call.exploded" is not an event type`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := ok()
			tt.mod(&e)
			warns, err := tc.CheckWebhooks([]tc.WebhookEndpoint{e})
			switch {
			case strings.HasPrefix(tt.want, "warn:"):
				if err != nil || len(warns) != 1 || !strings.Contains(warns[0], tt.want[5:]) {
					t.Errorf("got %v %v, want warning %q", warns, err, tt.want[5:])
				}
			case tt.want == "":
				if err != nil || len(warns) != 0 {
					t.Errorf("got %v %v", warns, err)
				}
			case err == nil || !strings.Contains(err.Error(), tt.want):
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := tc.CheckWebhooks([]tc.WebhookEndpoint{ok(), ok()}); err == nil || !strings.Contains(err.Error(), "webhooks[1].name") {
		t.Errorf("a duplicate name: %v", err)
	}
}

// Ensure the secret's form is Standard Webhooks' and that neither an error
// nor the configuration's JSON shows it.
func TestWebhookSecret(t *testing.T) {
	const good = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	k, err := tc.ParseWebhookSecret(good)
	if err != nil || string(k) != string(secretA) {
		t.Fatalf("%q %v", k, err)
	}
	for _, bad := range []string{"", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ=", "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"} {
		if _, err := tc.ParseWebhookSecret(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if len(bad) > len("whsec_") && strings.Contains(err.Error(), bad) {
			t.Errorf("the error repeats the value: %v", err)
		}
	}
	cfg, err := tc.ParseServiceConfig(strings.NewReader(`{"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": ["doctor"]}},
		"webhooks": [{"name": "ehr", "url": "https://ehr.example/h", "secret": "`+good+`", "events": ["call.started"]}]}`), "miauserid")
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Webhooks[0]; string(e.Secret) != string(secretA) || !e.Wants(tc.HookCallStarted) || e.Wants(tc.HookCreated) {
		t.Errorf("parsed %+v", e)
	}
	js, _ := json.Marshal(cfg)
	if strings.Contains(string(js), good[6:]) || !strings.Contains(string(js), `"secret":"******"`) {
		t.Errorf("the configuration's JSON shows the secret: %s", js)
	}
	_, err = tc.ParseServiceConfig(strings.NewReader(`{"privileges": {"basic": {"groups": ["patient"]}, "plus": {"groups": ["doctor"]}},
		"webhooks": [{"name": "ehr", "url": "https://ehr.example/h", "secret": "whsec_c2hvcnQ="}]}`), "miauserid")
	if err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("a short secret in the file: %v", err)
	}
}

// FuzzWebhookConfig: the receivers' secrets and URLs never panic, and an
// accepted secret has a key of the allowed length.
func FuzzWebhookConfig(f *testing.F) {
	f.Add("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "https://a.test/h")
	f.Add("whsec_", "http://[::1]:80/x?y#z")
	f.Fuzz(func(t *testing.T, secret, url string) {
		if k, err := tc.ParseWebhookSecret(secret); err == nil && (len(k) < tc.MinWebhookSecretBytes || len(k) > tc.MaxWebhookSecretBytes) {
			t.Errorf("accepted a key of %d bytes", len(k))
		}
		lower := strings.ToLower(url)
		if _, err := tc.CheckWebhookURL(url); err == nil && !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
			t.Errorf("accepted %q", url)
		}
	})
}

// Ensure a hosted provider's call events become webhook events written
// with the call state: the participant's, then the call's, once per
// provider event (a replay writes none).
func TestHooksFromProviderWebhooks(t *testing.T) {
	f := newHostedFixture(t, func(s *tc.Settings) { hooksOn(s); s.Webhooks = s.Webhooks[:1] })
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	room := f.get(t, id).ProviderRoomID
	f.clock.Set(start.Add(time.Hour))
	t0 := start.Unix()
	for _, body := range []string{
		fmt.Sprintf("ev1 joined %s s1 %d", room, t0),
		fmt.Sprintf("ev1 joined %s s1 %d", room, t0), // replay
		fmt.Sprintf("ev2 joined %s s2 %d", room, t0+60),
		fmt.Sprintf("ev3 left %s s1 %d", room, t0+600), // LIVE: one of two left, the call ends
	} {
		if _, err := f.webhook(t, body); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range f.store.Webhooks() {
		p := payloadOf(t, m.Payload)
		s := string(p.Type)
		if p.Data.Participant != nil {
			s += ":" + p.Data.Participant.Session
		}
		got = append(got, s)
	}
	want := []string{"teleconsultation.created", "participant.joined:s1", "call.started", "participant.joined:s2", "participant.left:s1", "call.ended"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

package teleconsult_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	tc "github.com/teleconsult/teleconsult/internal/teleconsult"
)

// recordingTarget is a [tc.HookTarget] that writes the event, the state
// and the call times as its body and records what it is asked to send.
type recordingTarget struct {
	mu   sync.Mutex
	sent []tc.WebhookDelivery
	fail bool
}

func (r *recordingTarget) Body(ev tc.WebhookEvent, t *tc.Teleconsultation, version int, _ time.Time) ([]byte, error) {
	return fmt.Appendf(nil, "%s %s v%d first=%s", ev, t.State, version, t.CallFirstStartedAt.Format(time.RFC3339)), nil
}

func (r *recordingTarget) Send(_ context.Context, d *tc.WebhookDelivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return &tc.WebhookError{Status: 503, Reason: "the receiver answered 503 Service Unavailable"}
	}
	r.sent = append(r.sent, *d)
	return nil
}

func (r *recordingTarget) bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.sent {
		out = append(out, d.TeleconsultationID+" "+string(d.Type)+" "+string(d.Body))
	}
	return out
}

// Ensure a receiver with a HookTarget gets the events its filter takes in
// its own form, through its own sender, in order and retried like any
// receiver, while the others keep their signed payloads; and that the
// first call's start is kept after the call ends and across a second call.
func TestHooksTarget(t *testing.T) {
	target := &recordingTarget{fail: true}
	f, snd, o := hookFixture(t, func(s *tc.Settings) {
		s.Webhooks = append(s.Webhooks, tc.WebhookEndpoint{Name: "fhir", URL: "https://fhir.test/r4",
			Events: []tc.WebhookEvent{tc.HookCallStarted, tc.HookCallEnded}, Target: target})
	})
	id, err := f.svc.Create(ctx, validCreate())
	if err != nil {
		t.Fatal(err)
	}
	first := start.Add(time.Minute)
	f.clock.Set(first)
	if err := f.svc.CallStarted(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(first.Add(10 * time.Minute))
	if err := f.svc.CallEnded(ctx, id); err != nil {
		t.Fatal(err)
	}
	drain(t, o) // the target answers 503: nothing reaches it
	if got := target.bodies(); len(got) != 0 {
		t.Fatalf("sent while failing: %v", got)
	}
	target.mu.Lock()
	target.fail = false
	target.mu.Unlock()
	f.clock.Set(first.Add(12 * time.Minute))
	if err := f.svc.CallStarted(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(first.Add(time.Hour))
	drain(t, o)
	fs := first.Format(time.RFC3339)
	want := []string{
		id + " call.started call.started in_progress v2 first=" + fs,
		id + " call.ended call.ended ended v3 first=" + fs,
		id + " call.started call.started in_progress v4 first=" + fs,
	}
	if got := target.bodies(); !slices.Equal(got, want) {
		t.Errorf("the target got\n%q\nwant\n%q", got, want)
	}
	for _, d := range target.sent {
		if d.URL != "https://fhir.test/r4" || d.Secret != nil {
			t.Errorf("delivery to %q with a secret %v", d.URL, d.Secret)
		}
	}
	if got := snd.types(t, "https://a.test/hook"); !slices.Equal(got, []string{"teleconsultation.created", "call.started", "call.ended", "call.started"}) {
		t.Errorf("receiver a got %v", got)
	}
	if got, err := f.store.FindByID(ctx, id); err != nil || !got.CallFirstStartedAt.Equal(first) {
		t.Errorf("CallFirstStartedAt: %v, want %v", err, first)
	}
}

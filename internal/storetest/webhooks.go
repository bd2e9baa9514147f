package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// webhookTests are the tests of [teleconsult.WebhookStore].
var webhookTests = []test{
	{"Webhooks/WrittenWithTheChange", testHooksWritten},
	{"Webhooks/InOrderPerVisitAndReceiver", testHooksOrder},
	{"Webhooks/WithTheOutboxMark", testHooksWithMark},
	{"Webhooks/Recover", testHooksRecover},
}

func hook(tcID, endpoint string, typ teleconsult.WebhookEvent) teleconsult.WebhookMessage {
	return teleconsult.WebhookMessage{
		Endpoint: endpoint, EventID: "msg_" + teleconsult.NewID(), Type: typ, TeleconsultationID: tcID,
		Payload: []byte(`{"type":"` + string(typ) + `"}`), CreatedAt: Base,
		Status: teleconsult.DeliveryPending, NextAttemptAt: Base, UpdatedAt: Base,
	}
}

func claimHooks(t *testing.T, s teleconsult.Store, now time.Time) []teleconsult.WebhookMessage {
	t.Helper()
	msgs, err := s.ClaimWebhooks(context.Background(), now, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// Ensure events are written with the change (and not when it is refused)
// and round-trip.
func testHooksWritten(t *testing.T, f *fixture) {
	tc := NewTC("")
	ch := teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc},
		Webhooks: []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookCreated), hook(tc.ID, "b", teleconsult.HookCreated)}}
	Apply(t, f.s, ch)
	if ch.Webhooks[0].ID == 0 || ch.Webhooks[1].ID <= ch.Webhooks[0].ID {
		t.Errorf("ids %d, %d", ch.Webhooks[0].ID, ch.Webhooks[1].ID)
	}
	got, err := f.s.FindWebhooks(context.Background(), tc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(got, ch.Webhooks); d != "" {
		t.Errorf("FindWebhooks:%s", d)
	}
	stale := tc.Clone()
	stale.Version--
	err = f.s.Apply(context.Background(), teleconsult.Change{Update: []*teleconsult.Teleconsultation{stale},
		Webhooks: []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookUpdated)}})
	WantCode(t, err, teleconsult.ECONFLICT)
	// An events-only change (a participant joined).
	Apply(t, f.s, teleconsult.Change{Webhooks: []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookParticipantJoined)}})
	if got, _ := f.s.FindWebhooks(context.Background(), tc.ID); len(got) != 3 {
		t.Errorf("%d events, want 3 (the refused change's left none)", len(got))
	}
}

// Ensure one visit's events to one receiver are claimed one at a time, in
// order, while other visits and receivers go on; a failed one frees the
// next.
func testHooksOrder(t *testing.T, f *fixture) {
	a, b := NewTC(""), NewTC("")
	Create(t, f.s, a, b)
	ch := teleconsult.Change{Webhooks: []teleconsult.WebhookMessage{
		hook(a.ID, "r1", teleconsult.HookCreated), hook(a.ID, "r1", teleconsult.HookUpdated),
		hook(a.ID, "r2", teleconsult.HookCreated), hook(b.ID, "r1", teleconsult.HookCreated)}}
	Apply(t, f.s, ch)
	got := claimHooks(t, f.s, Base)
	if len(got) != 3 || got[0].ID != ch.Webhooks[0].ID || got[1].ID != ch.Webhooks[2].ID || got[2].ID != ch.Webhooks[3].ID {
		t.Fatalf("claimed %+v", got)
	}
	if again := claimHooks(t, f.s, Base); len(again) != 0 {
		t.Fatalf("claimed again under the lease: %d", len(again))
	}
	m := got[0]
	m.Status, m.Attempts, m.LastStatus, m.LastError, m.UpdatedAt = teleconsult.DeliveryFailed, 1, 410, "gone", Base
	if err := f.s.MarkWebhook(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	next := claimHooks(t, f.s, Base.Add(2*time.Minute))
	found := false
	for _, x := range next {
		found = found || x.ID == ch.Webhooks[1].ID
	}
	if !found {
		t.Errorf("the next event of a visit after a given-up one was not claimed: %+v", next)
	}
	back, _ := f.s.FindWebhooks(context.Background(), a.ID)
	if back[0].Status != teleconsult.DeliveryFailed || back[0].LastStatus != 410 || back[0].LastError != "gone" {
		t.Errorf("marked %+v", back[0])
	}
	missing := teleconsult.WebhookMessage{ID: 1 << 40, Status: teleconsult.DeliverySent}
	WantCode(t, f.s.MarkWebhook(context.Background(), &missing), teleconsult.ENOTFOUND)
}

// Ensure MarkOutbox writes its events in the same transaction.
func testHooksWithMark(t *testing.T, f *fixture) {
	tc := NewTC("")
	ch := teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}, Outbox: []teleconsult.OutboxMessage{Message(tc.ID, "u", teleconsult.InvitationInvite, 0)}}
	Apply(t, f.s, ch)
	m := ch.Outbox[0]
	m.Status, m.Attempts, m.LastError = teleconsult.DeliveryFailed, 1, "550"
	m.Emit = []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookInvitationFailed)}
	mark(t, f.s, &m)
	got, _ := f.s.FindWebhooks(context.Background(), tc.ID)
	if len(got) != 1 || got[0].Type != teleconsult.HookInvitationFailed || m.Emit[0].ID != got[0].ID {
		t.Errorf("after MarkOutbox: %+v", got)
	}
}

// Ensure a dead process's claims are released where the store can tell
// (RecoverReleases), and otherwise left to expire.
func testHooksRecover(t *testing.T, f *fixture) {
	tc := NewTC("")
	Apply(t, f.s, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc},
		Webhooks: []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookCreated)}})
	if n := len(claimHooks(t, f.s, Base)); n != 1 {
		t.Fatalf("claimed %d", n)
	}
	n, err := f.s.RecoverWebhooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	again := len(claimHooks(t, f.s, Base))
	want := 0
	if f.RecoverReleases {
		want = 1
	}
	if n != want || again != want {
		t.Errorf("recovered %d, claimable again %d; want %d (RecoverReleases %v)", n, again, want, f.RecoverReleases)
	}
}

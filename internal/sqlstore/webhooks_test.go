package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// TestWebhookStore runs the webhook outbox suite against SQLite and
// PostgreSQL.
func TestWebhookStore(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"WrittenWithTheChange", testHooksWritten},
		{"InOrderPerVisitAndReceiver", testHooksOrder},
		{"WithTheOutboxMark", testHooksWithMark},
		{"Recover", testHooksRecover},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					dsn := b.dsn(t)
					keys := testKeys(t, 1)
					tt.run(t, &fixture{dsn: dsn, keys: keys, db: openDB(t, dsn, keys)})
				})
			}
		})
	}
}

func hook(tcID, endpoint string, typ teleconsult.WebhookEvent) teleconsult.WebhookMessage {
	return teleconsult.WebhookMessage{
		Endpoint: endpoint, EventID: "msg_" + teleconsult.NewID(), Type: typ, TeleconsultationID: tcID,
		Payload: []byte(`{"type":"` + string(typ) + `"}`), CreatedAt: base,
		Status: teleconsult.DeliveryPending, NextAttemptAt: base, UpdatedAt: base,
	}
}

func claimHooks(t *testing.T, db *DB, now time.Time) []teleconsult.WebhookMessage {
	t.Helper()
	msgs, err := db.ClaimWebhooks(context.Background(), now, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// Ensure events are written with the change (and not when it is refused)
// and round-trip.
func testHooksWritten(t *testing.T, f *fixture) {
	tc := newTC("")
	ch := teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc},
		Webhooks: []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookCreated), hook(tc.ID, "b", teleconsult.HookCreated)}}
	apply(t, f.db, ch)
	if ch.Webhooks[0].ID == 0 || ch.Webhooks[1].ID <= ch.Webhooks[0].ID {
		t.Errorf("ids %d, %d", ch.Webhooks[0].ID, ch.Webhooks[1].ID)
	}
	got, err := f.db.FindWebhooks(context.Background(), tc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(got, ch.Webhooks); d != "" {
		t.Errorf("FindWebhooks:%s", d)
	}
	stale := tc.Clone()
	stale.Version--
	err = f.db.Apply(context.Background(), teleconsult.Change{Update: []*teleconsult.Teleconsultation{stale},
		Webhooks: []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookUpdated)}})
	wantCode(t, err, teleconsult.ECONFLICT)
	// An events-only change (a participant joined).
	apply(t, f.db, teleconsult.Change{Webhooks: []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookParticipantJoined)}})
	if got, _ := f.db.FindWebhooks(context.Background(), tc.ID); len(got) != 3 {
		t.Errorf("%d events, want 3 (the refused change's left none)", len(got))
	}
}

// Ensure one visit's events to one receiver are claimed one at a time, in
// order, while other visits and receivers go on; a failed one frees the
// next.
func testHooksOrder(t *testing.T, f *fixture) {
	a, b := newTC(""), newTC("")
	create(t, f.db, a, b)
	ch := teleconsult.Change{Webhooks: []teleconsult.WebhookMessage{
		hook(a.ID, "r1", teleconsult.HookCreated), hook(a.ID, "r1", teleconsult.HookUpdated),
		hook(a.ID, "r2", teleconsult.HookCreated), hook(b.ID, "r1", teleconsult.HookCreated)}}
	apply(t, f.db, ch)
	got := claimHooks(t, f.db, base)
	if len(got) != 3 || got[0].ID != ch.Webhooks[0].ID || got[1].ID != ch.Webhooks[2].ID || got[2].ID != ch.Webhooks[3].ID {
		t.Fatalf("claimed %+v", got)
	}
	if again := claimHooks(t, f.db, base); len(again) != 0 {
		t.Fatalf("claimed again under the lease: %d", len(again))
	}
	m := got[0]
	m.Status, m.Attempts, m.LastStatus, m.LastError, m.UpdatedAt = teleconsult.DeliveryFailed, 1, 410, "gone", base
	if err := f.db.MarkWebhook(context.Background(), &m); err != nil {
		t.Fatal(err)
	}
	next := claimHooks(t, f.db, base.Add(2*time.Minute))
	found := false
	for _, x := range next {
		found = found || x.ID == ch.Webhooks[1].ID
	}
	if !found {
		t.Errorf("the next event of a visit after a given-up one was not claimed: %+v", next)
	}
	back, _ := f.db.FindWebhooks(context.Background(), a.ID)
	if back[0].Status != teleconsult.DeliveryFailed || back[0].LastStatus != 410 || back[0].LastError != "gone" {
		t.Errorf("marked %+v", back[0])
	}
	missing := teleconsult.WebhookMessage{ID: 1 << 40, Status: teleconsult.DeliverySent}
	wantCode(t, f.db.MarkWebhook(context.Background(), &missing), teleconsult.ENOTFOUND)
}

// Ensure MarkOutbox writes its events in the same transaction.
func testHooksWithMark(t *testing.T, f *fixture) {
	tc := newTC("")
	ch := teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}, Outbox: []teleconsult.OutboxMessage{message(tc.ID, "u", teleconsult.InvitationInvite, 0)}}
	apply(t, f.db, ch)
	m := ch.Outbox[0]
	m.Status, m.Attempts, m.LastError = teleconsult.DeliveryFailed, 1, "550"
	m.Emit = []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookInvitationFailed)}
	mark(t, f.db, &m)
	got, _ := f.db.FindWebhooks(context.Background(), tc.ID)
	if len(got) != 1 || got[0].Type != teleconsult.HookInvitationFailed || m.Emit[0].ID != got[0].ID {
		t.Errorf("after MarkOutbox: %+v", got)
	}
}

// Ensure a dead process's claims are released on SQLite, and left to
// expire on PostgreSQL.
func testHooksRecover(t *testing.T, f *fixture) {
	tc := newTC("")
	apply(t, f.db, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc},
		Webhooks: []teleconsult.WebhookMessage{hook(tc.ID, "a", teleconsult.HookCreated)}})
	if n := len(claimHooks(t, f.db, base)); n != 1 {
		t.Fatalf("claimed %d", n)
	}
	n, err := f.db.RecoverWebhooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	again := len(claimHooks(t, f.db, base))
	switch f.db.Dialect() {
	case DialectSQLite:
		if n != 1 || again != 1 {
			t.Errorf("SQLite: recovered %d, claimable again %d", n, again)
		}
	default:
		if n != 0 || again != 0 {
			t.Errorf("PostgreSQL: recovered %d, claimable again %d", n, again)
		}
	}
}

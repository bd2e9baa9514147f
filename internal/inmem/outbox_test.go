package inmem

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure OutboxStats counts pending and failed messages by kind and status
// with the oldest's creation time, and leaves sent ones out (the same
// case as the SQL store's TestOutboxStats).
func TestOutboxStats(t *testing.T) {
	base := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s := NewStore()
	ctx := context.Background()
	if got, err := s.OutboxStats(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty outbox: %v, %v", got, err)
	}
	msg := func(kind teleconsult.InvitationKind, status teleconsult.DeliveryStatus, created time.Duration) teleconsult.OutboxMessage {
		return teleconsult.OutboxMessage{TeleconsultationID: "tc", UserID: "u" + created.String(), Kind: kind,
			Status: status, CreatedAt: base.Add(created), NextAttemptAt: base, UpdatedAt: base}
	}
	tc := &teleconsult.Teleconsultation{ID: "tc", StartDate: base, EndDate: base.Add(30 * time.Minute),
		ExpectedParticipants: 2, State: teleconsult.StateWaiting, CreatedAt: base, UpdatedAt: base}
	if err := s.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}, Outbox: []teleconsult.OutboxMessage{
		msg(teleconsult.InvitationInvite, teleconsult.DeliveryPending, time.Minute),
		msg(teleconsult.InvitationInvite, teleconsult.DeliveryPending, 0),
		msg(teleconsult.InvitationUpdate, teleconsult.DeliveryPending, 2*time.Minute),
		msg(teleconsult.InvitationCancel, teleconsult.DeliveryFailed, 3*time.Minute),
		msg(teleconsult.InvitationInvite, teleconsult.DeliverySent, -time.Hour),
	}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b teleconsult.OutboxCount) int { return int(a.Kind) - int(b.Kind) })
	want := []teleconsult.OutboxCount{
		{Kind: teleconsult.InvitationInvite, Status: teleconsult.DeliveryPending, Count: 2, Oldest: base},
		{Kind: teleconsult.InvitationUpdate, Status: teleconsult.DeliveryPending, Count: 1, Oldest: base.Add(2 * time.Minute)},
		{Kind: teleconsult.InvitationCancel, Status: teleconsult.DeliveryFailed, Count: 1, Oldest: base.Add(3 * time.Minute)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OutboxStats = %+v, want %+v", got, want)
	}
}

package sqlstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure OutboxStats counts pending and failed messages by kind and status
// with the oldest's creation time, and leaves sent ones out, on both
// databases.
func TestOutboxStats(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openDB(t, b.dsn(t), testKeys(t, 1))
			if got, err := db.OutboxStats(ctx); err != nil || len(got) != 0 {
				t.Fatalf("empty outbox: %v, %v", got, err)
			}
			tc := newTC("")
			create(t, db, tc)
			msg := func(kind teleconsult.InvitationKind, status teleconsult.DeliveryStatus, created time.Duration) teleconsult.OutboxMessage {
				m := message(tc.ID, "u"+created.String(), kind, 0)
				m.Status, m.CreatedAt = status, base.Add(created)
				return m
			}
			apply(t, db, teleconsult.Change{Outbox: []teleconsult.OutboxMessage{
				msg(teleconsult.InvitationInvite, teleconsult.DeliveryPending, time.Minute),
				msg(teleconsult.InvitationInvite, teleconsult.DeliveryPending, 0),
				msg(teleconsult.InvitationUpdate, teleconsult.DeliveryPending, 2*time.Minute),
				msg(teleconsult.InvitationCancel, teleconsult.DeliveryFailed, 3*time.Minute),
				msg(teleconsult.InvitationInvite, teleconsult.DeliverySent, -time.Hour),
			}})
			got, err := db.OutboxStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(got, func(a, b teleconsult.OutboxCount) int { return int(a.Kind) - int(b.Kind) })
			want := []teleconsult.OutboxCount{
				{Kind: teleconsult.InvitationInvite, Status: teleconsult.DeliveryPending, Count: 2, Oldest: base},
				{Kind: teleconsult.InvitationUpdate, Status: teleconsult.DeliveryPending, Count: 1, Oldest: base.Add(2 * time.Minute)},
				{Kind: teleconsult.InvitationCancel, Status: teleconsult.DeliveryFailed, Count: 1, Oldest: base.Add(3 * time.Minute)},
			}
			if d := diff(got, want); d != "" {
				t.Errorf("OutboxStats: %s", d)
			}
		})
	}
}

// Ensure every store operation is timed under its own op label.
func TestOperationMetrics(t *testing.T) {
	db := openDB(t, backends[0].dsn(t), testKeys(t, 1))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(db.Collectors()...)
	tc := newTC("")
	create(t, db, tc)
	mustFind(t, db, tc.ID)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.OutboxStats(context.Background()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	pools := 0
	for _, f := range families {
		switch f.GetName() {
		case "go_sql_open_connections":
			pools = len(f.GetMetric())
		case "teleconsult_db_operation_duration_seconds":
			for _, m := range f.GetMetric() {
				counts[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if len(counts) != len(operations) {
		t.Errorf("%d op series, want one per operation (%d)", len(counts), len(operations))
	}
	for op, min := range map[string]uint64{opApply: 1, opFindByID: 1, opPing: 1, opOutboxStats: 1, opClaimOutbox: 0} {
		if counts[op] < min || (min == 0 && counts[op] != 0) {
			t.Errorf("op %s observed %d times, want %d", op, counts[op], min)
		}
	}
	if pools != 2 {
		t.Errorf("go_sql_open_connections: %d series, want the two SQLite pools", pools)
	}
}

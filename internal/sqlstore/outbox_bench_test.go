package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// BenchmarkApplyCreateWithInvitations is BenchmarkApplyCreate with the two
// invitation messages that a create writes in the same commit when
// invitations are on.
func BenchmarkApplyCreateWithInvitations(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			keys := testKeys(b, 1)
			db := openDB(b, be.dsn(b), keys)
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				tc := benchTC(keys)
				now := time.Now()
				var msgs []teleconsult.OutboxMessage
				for _, p := range tc.Participants {
					m := message(tc.ID, p.UserID, teleconsult.InvitationInvite, 0)
					m.CreatedAt, m.NextAttemptAt, m.UpdatedAt = now, now, now
					msgs = append(msgs, m)
				}
				b.StartTimer()
				if err := db.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}, Outbox: msgs}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package sqlstore

import (
	"context"
	"testing"

	"github.com/teleconsult/teleconsult/internal/storetest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// benchTC returns a new teleconsultation with two participants, as the
// service creates them.
func benchTC(keys *teleconsult.Keyring) *teleconsult.Teleconsultation {
	return newTC("appt-"+teleconsult.NewID(),
		newParticipant(keys, "doc-"+teleconsult.NewID(), "Dr. Bench Mark", "bench.doctor@example.org", teleconsult.RolePlus, "doctor"),
		newParticipant(keys, "pat-"+teleconsult.NewID(), "Patient Bench", "bench.patient@example.org", teleconsult.RoleBasic, "patient"))
}

// BenchmarkApplyCreate: one Apply creating a teleconsultation with two
// participants (two new user-id map entries), one commit each. SQLite
// commits with synchronous=FULL: the figure is bound by fsync.
func BenchmarkApplyCreate(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			keys := testKeys(b, 1)
			db := openDB(b, be.dsn(b), keys)
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				tc := benchTC(keys)
				b.StartTimer()
				if err := db.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyCreateParallel: as BenchmarkApplyCreate, from
// GOMAXPROCS*4 goroutines at once (-cpu sets GOMAXPROCS).
func BenchmarkApplyCreateParallel(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			keys := testKeys(b, 1)
			db := openDB(b, be.dsn(b), keys)
			ctx := context.Background()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tc := benchTC(keys)
					if err := db.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkFindByID: loading a teleconsultation with two participants
// (decrypting two names and two emails) out of 1000 stored.
func BenchmarkFindByID(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			keys := testKeys(b, 1)
			db := openDB(b, be.dsn(b), keys)
			ctx := context.Background()
			var ids []string
			for i := 0; i < 1000; i += 100 {
				var ch teleconsult.Change
				for range 100 {
					tc := benchTC(keys)
					ch.Create = append(ch.Create, tc)
					ids = append(ids, tc.ID)
				}
				if err := db.Apply(ctx, ch); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for b.Loop() {
				tc, err := db.FindByID(ctx, ids[i%len(ids)])
				if err != nil || len(tc.Participants) != 2 {
					b.Fatal(tc, err)
				}
				i++
			}
		})
	}
}

// BenchmarkKnownUser: POST /credentials's check that a user takes part in
// a live visit, among 10000 stored visits (20000 participants), with the
// index of migration 00005 ("indexed") and after dropping it ("scan").
func BenchmarkKnownUser(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			keys := testKeys(b, 1)
			db := openDB(b, be.dsn(b), keys)
			ctx := context.Background()
			var users []string
			for i := 0; i < 10000; i += 500 {
				var ch teleconsult.Change
				for range 500 {
					tc := benchTC(keys)
					ch.Create = append(ch.Create, tc)
					users = append(users, tc.Participants[1].UserID)
				}
				if err := db.Apply(ctx, ch); err != nil {
					b.Fatal(err)
				}
			}
			run := func(b *testing.B) {
				i := 0
				for b.Loop() {
					if ok, err := db.KnownUser(ctx, users[i%len(users)]); err != nil || !ok {
						b.Fatal(ok, err)
					}
					i++
				}
			}
			b.Run("indexed", run)
			if _, err := db.w.ExecContext(ctx, "DROP INDEX participants_user_active"); err != nil {
				b.Fatal(err)
			}
			db.stmts.Clear() // plans made with the index
			b.Run("scan", run)
		})
	}
}

// BenchmarkAppendAudit: one read's audit entry appended from 64
// goroutines at once, as GET does under load: group commits on the
// writer. Reports entries per commit.
func BenchmarkAppendAudit(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			db := openDB(b, be.dsn(b), testKeys(b, 1))
			ctx := context.Background()
			b.SetParallelism(32) // × GOMAXPROCS
			before := db.auditQ.commits.Load()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := storetest.AuditEntry(teleconsult.NewID(), teleconsult.AuditView, base)
					if err := db.AppendAudit(ctx, []teleconsult.AuditEntry{e}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if n := db.auditQ.commits.Load() - before; n > 0 {
				b.ReportMetric(float64(b.N)/float64(n), "entries/commit")
			}
		})
	}
}

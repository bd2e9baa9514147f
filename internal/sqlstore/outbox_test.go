package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// TestOutboxStore runs the outbox suite against SQLite and PostgreSQL.
func TestOutboxStore(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"WrittenWithTheChange", testOutboxWritten},
		{"NothingOnConflict", testOutboxAtomic},
		{"OutboxOnlyChange", testOutboxOnly},
		{"ClaimOrderLeaseAndMark", testOutboxClaim},
		{"OnePendingPerParticipant", testOutboxPerParticipant},
		{"ConcurrentClaims", testOutboxConcurrentClaims},
		{"Recover", testOutboxRecover},
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

// message returns a pending message due at base.
func message(tcID, userID string, kind teleconsult.InvitationKind, seq int) teleconsult.OutboxMessage {
	return teleconsult.OutboxMessage{
		TeleconsultationID: tcID, UserID: userID, Kind: kind, Sequence: seq,
		StartDate: base.Add(time.Hour), EndDate: base.Add(90 * time.Minute), CreatedAt: base,
		Status: teleconsult.DeliveryPending, NextAttemptAt: base, UpdatedAt: base,
	}
}

func findOutbox(t *testing.T, db *DB, id string) []teleconsult.OutboxMessage {
	t.Helper()
	msgs, err := db.FindOutbox(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func claim(t *testing.T, db *DB, now time.Time, limit int) []teleconsult.OutboxMessage {
	t.Helper()
	msgs, err := db.ClaimOutbox(context.Background(), now, time.Minute, limit)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func ids(msgs []teleconsult.OutboxMessage) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func mark(t *testing.T, db *DB, m *teleconsult.OutboxMessage) {
	t.Helper()
	if err := db.MarkOutbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// Ensure messages are written with the change, get increasing ids, and
// round-trip with the participants' Invited flags and the sequence.
func testOutboxWritten(t *testing.T, f *fixture) {
	doc := newParticipant(f.keys, "doc-1", "Dr. A", "a@example.org", teleconsult.RolePlus, "doctor")
	doc.Invited = true
	tc := newTC("appt-1", doc)
	tc.CalendarSequence = 1
	a := message(tc.ID, "doc-1", teleconsult.InvitationInvite, 0)
	a.Resend = true
	ch := teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc},
		Outbox: []teleconsult.OutboxMessage{a, message(tc.ID, "pat-1", teleconsult.InvitationUpdate, 0)}}
	apply(t, f.db, ch)
	if ch.Outbox[0].ID == 0 || ch.Outbox[1].ID <= ch.Outbox[0].ID {
		t.Errorf("ids %d, %d: want increasing", ch.Outbox[0].ID, ch.Outbox[1].ID)
	}
	got := findOutbox(t, f.db, tc.ID)
	if d := diff(got, ch.Outbox); d != "" {
		t.Errorf("FindOutbox:%s", d)
	}
	f.db.cache.forget([]string{tc.ID}) // read the row, not the cache
	back := mustFind(t, f.db, tc.ID)
	if !back.Participants[0].Invited || back.CalendarSequence != 1 {
		t.Errorf("Invited %v, CalendarSequence %d", back.Participants[0].Invited, back.CalendarSequence)
	}
	if msgs := findOutbox(t, f.db, "no-such-id"); len(msgs) != 0 {
		t.Errorf("unknown teleconsultation: %v", msgs)
	}
}

// Ensure a refused change writes none of its messages.
func testOutboxAtomic(t *testing.T, f *fixture) {
	tc := newTC("")
	create(t, f.db, tc)
	stale := tc.Clone()
	stale.Version--
	err := f.db.Apply(context.Background(), teleconsult.Change{Update: []*teleconsult.Teleconsultation{stale},
		Outbox: []teleconsult.OutboxMessage{message(tc.ID, "u", teleconsult.InvitationCancel, 0)}})
	wantCode(t, err, teleconsult.ECONFLICT)
	err = f.db.Apply(context.Background(), teleconsult.Change{
		Outbox: []teleconsult.OutboxMessage{message("no-such-teleconsultation", "u", teleconsult.InvitationCancel, 0)}})
	if err == nil {
		t.Error("a message for an unknown teleconsultation was stored")
	}
	if msgs := findOutbox(t, f.db, tc.ID); len(msgs) != 0 {
		t.Errorf("refused change left messages: %+v", msgs)
	}
}

func testOutboxOnly(t *testing.T, f *fixture) {
	tc := newTC("")
	create(t, f.db, tc)
	apply(t, f.db, teleconsult.Change{Outbox: []teleconsult.OutboxMessage{message(tc.ID, "u", teleconsult.InvitationInvite, 0)}})
	if msgs := findOutbox(t, f.db, tc.ID); len(msgs) != 1 {
		t.Errorf("%d messages", len(msgs))
	}
	if got := mustFind(t, f.db, tc.ID); got.Version != 1 {
		t.Errorf("an outbox-only change touched the teleconsultation: version %d", got.Version)
	}
}

// Ensure claims come oldest first, due only, hidden while leased, visible
// again after the lease or a release; sent and failed messages never.
func testOutboxClaim(t *testing.T, f *fixture) {
	ctx := context.Background()
	tc := newTC("")
	create(t, f.db, tc)
	var msgs []teleconsult.OutboxMessage
	for i := range 4 {
		m := message(tc.ID, fmt.Sprintf("u%d", i), teleconsult.InvitationInvite, 0)
		m.NextAttemptAt = base.Add(time.Duration(i) * time.Second)
		msgs = append(msgs, m)
	}
	ch := teleconsult.Change{Outbox: msgs}
	apply(t, f.db, ch)
	all := ids(ch.Outbox)

	if got := claim(t, f.db, base.Add(-time.Second), 10); len(got) != 0 {
		t.Errorf("claimed %v before they were due", ids(got))
	}
	got := claim(t, f.db, base.Add(2*time.Second), 2)
	if !slices.Equal(ids(got), all[:2]) {
		t.Errorf("claimed %v, want %v", ids(got), all[:2])
	}
	if again := claim(t, f.db, base.Add(2*time.Second), 10); !slices.Equal(ids(again), all[2:3]) {
		t.Errorf("then claimed %v, want %v (the first two are leased, the last is not due)", ids(again), all[2:3])
	}
	// The lease (a minute) ends: claimable again.
	if again := claim(t, f.db, base.Add(2*time.Minute), 1); !slices.Equal(ids(again), all[:1]) {
		t.Errorf("after the lease: %v, want %v", ids(again), all[:1])
	}
	// Marks: sent, failed, pending later.
	now := base.Add(3 * time.Minute)
	sent := got[0]
	sent.Status, sent.Attempts, sent.SentAt, sent.UpdatedAt = teleconsult.DeliverySent, 1, now, now
	mark(t, f.db, &sent)
	failed := got[1]
	failed.Status, failed.Attempts, failed.LastError, failed.UpdatedAt = teleconsult.DeliveryFailed, 1, "550 5.1.1 no such user", now
	mark(t, f.db, &failed)
	later := msgs[2]
	later.ID = all[2]
	later.Attempts, later.NextAttemptAt, later.LastError, later.UpdatedAt = 1, now.Add(time.Hour), "421 try later", now
	mark(t, f.db, &later)
	if again := claim(t, f.db, now, 10); !slices.Equal(ids(again), all[3:]) {
		t.Errorf("after marks: %v, want %v", ids(again), all[3:])
	}
	if again := claim(t, f.db, now.Add(time.Hour), 10); !slices.Equal(ids(again), all[2:]) {
		t.Errorf("after the backoff: %v, want %v (the last one's lease ended too)", ids(again), all[2:])
	}
	stored := findOutbox(t, f.db, tc.ID)
	if d := diff(stored[0], sent); d != "" {
		t.Errorf("sent:%s", d)
	}
	if d := diff(stored[1], failed); d != "" {
		t.Errorf("failed:%s", d)
	}
	if stored[2].LastError != "421 try later" || !stored[2].NextAttemptAt.Equal(now.Add(time.Hour)) {
		t.Errorf("retry: %+v", stored[2])
	}
	missing := sent
	missing.ID = 1 << 40
	wantCode(t, f.db.MarkOutbox(ctx, &missing), teleconsult.ENOTFOUND)
	long := failed
	long.LastError = "\x00bad\r\n" + strings.Repeat("é", 1000)
	mark(t, f.db, &long)
	if got := findOutbox(t, f.db, tc.ID)[1].LastError; len(got) > maxReasonLen || !utf8.ValidString(got) || !strings.HasPrefix(got, " bad  éé") {
		t.Errorf("stored reason %q (%d bytes): want control characters blanked, cut to %d bytes of UTF-8", got[:20], len(got), maxReasonLen)
	}
}

// Ensure a participant's second message is not claimable while the first
// is pending (leased or waiting for a retry), and is once it is done.
func testOutboxPerParticipant(t *testing.T, f *fixture) {
	tc := newTC("")
	create(t, f.db, tc)
	ch := teleconsult.Change{Outbox: []teleconsult.OutboxMessage{
		message(tc.ID, "a", teleconsult.InvitationInvite, 0),
		message(tc.ID, "b", teleconsult.InvitationInvite, 0),
		message(tc.ID, "a", teleconsult.InvitationUpdate, 1),
	}}
	apply(t, f.db, ch)
	all := ids(ch.Outbox)
	got := claim(t, f.db, base, 10)
	if !slices.Equal(ids(got), all[:2]) {
		t.Fatalf("claimed %v, want %v", ids(got), all[:2])
	}
	if again := claim(t, f.db, base.Add(2*time.Minute), 10); !slices.Equal(ids(again), all[:2]) {
		t.Errorf("after the lease: %v, want %v (a's update still waits)", ids(again), all[:2])
	}
	first := got[0]
	first.Status, first.Attempts, first.SentAt, first.UpdatedAt = teleconsult.DeliverySent, 1, base, base
	mark(t, f.db, &first)
	if again := claim(t, f.db, base.Add(2*time.Minute), 10); !slices.Equal(ids(again), all[2:]) {
		t.Errorf("after a's invitation was sent: %v, want %v", ids(again), all[2:])
	}
}

// Ensure concurrent workers never claim a message twice.
func testOutboxConcurrentClaims(t *testing.T, f *fixture) {
	tc := newTC("")
	create(t, f.db, tc)
	var msgs []teleconsult.OutboxMessage
	for i := range 60 {
		msgs = append(msgs, message(tc.ID, fmt.Sprintf("u%02d", i), teleconsult.InvitationInvite, 0))
	}
	apply(t, f.db, teleconsult.Change{Outbox: msgs})
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				got, err := f.db.ClaimOutbox(context.Background(), base, time.Hour, 5)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 60 {
		t.Errorf("claimed %d distinct messages, want 60", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %d claimed %d times", id, n)
		}
	}
}

// Ensure RecoverOutbox releases a dead process's claims on SQLite and
// leaves PostgreSQL's to their lease.
func testOutboxRecover(t *testing.T, f *fixture) {
	tc := newTC("")
	create(t, f.db, tc)
	apply(t, f.db, teleconsult.Change{Outbox: []teleconsult.OutboxMessage{message(tc.ID, "a", teleconsult.InvitationInvite, 0)}})
	if got := claim(t, f.db, base, 10); len(got) != 1 {
		t.Fatalf("claimed %d", len(got))
	}
	n, err := f.db.RecoverOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := 1
	if f.db.Dialect() == DialectPostgres {
		want = 0
	}
	if n != want {
		t.Errorf("recovered %d claims, want %d", n, want)
	}
	if got := claim(t, f.db, base, 10); len(got) != want {
		t.Errorf("claimable after recovery: %d, want %d", len(got), want)
	}
}

package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// outboxTests are the tests of [teleconsult.OutboxStore].
var outboxTests = []test{
	{"Outbox/WrittenWithTheChange", testOutboxWritten},
	{"Outbox/NothingOnConflict", testOutboxAtomic},
	{"Outbox/OutboxOnlyChange", testOutboxOnly},
	{"Outbox/ClaimOrderLeaseAndMark", testOutboxClaim},
	{"Outbox/OnePendingPerParticipant", testOutboxPerParticipant},
	{"Outbox/ConcurrentClaims", testOutboxConcurrentClaims},
	{"Outbox/Recover", testOutboxRecover},
}

func findOutbox(t *testing.T, s teleconsult.Store, id string) []teleconsult.OutboxMessage {
	t.Helper()
	msgs, err := s.FindOutbox(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func claim(t *testing.T, s teleconsult.Store, now time.Time, limit int) []teleconsult.OutboxMessage {
	t.Helper()
	msgs, err := s.ClaimOutbox(context.Background(), now, time.Minute, limit)
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

func mark(t *testing.T, s teleconsult.Store, m *teleconsult.OutboxMessage) {
	t.Helper()
	if err := s.MarkOutbox(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// Ensure messages are written with the change, get increasing ids, and
// round-trip with the participants' Invited flags and the sequence.
func testOutboxWritten(t *testing.T, f *fixture) {
	doc := NewParticipant(f.keys, "doc-1", "Dr. A", "a@example.org", teleconsult.RolePlus, "doctor")
	doc.Invited = true
	tc := NewTC("appt-1", doc)
	tc.CalendarSequence = 1
	a := Message(tc.ID, "doc-1", teleconsult.InvitationInvite, 0)
	a.Resend = true
	ch := teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc},
		Outbox: []teleconsult.OutboxMessage{a, Message(tc.ID, "pat-1", teleconsult.InvitationUpdate, 0)}}
	Apply(t, f.s, ch)
	if ch.Outbox[0].ID == 0 || ch.Outbox[1].ID <= ch.Outbox[0].ID {
		t.Errorf("ids %d, %d: want increasing", ch.Outbox[0].ID, ch.Outbox[1].ID)
	}
	got := findOutbox(t, f.s, tc.ID)
	if d := Diff(got, ch.Outbox); d != "" {
		t.Errorf("FindOutbox:%s", d)
	}
	back := MustFind(t, f.s, tc.ID)
	if !back.Participants[0].Invited || back.CalendarSequence != 1 {
		t.Errorf("Invited %v, CalendarSequence %d", back.Participants[0].Invited, back.CalendarSequence)
	}
	if msgs := findOutbox(t, f.s, "no-such-id"); len(msgs) != 0 {
		t.Errorf("unknown teleconsultation: %v", msgs)
	}
}

// Ensure a refused change writes none of its messages.
func testOutboxAtomic(t *testing.T, f *fixture) {
	tc := NewTC("")
	Create(t, f.s, tc)
	stale := tc.Clone()
	stale.Version--
	err := f.s.Apply(context.Background(), teleconsult.Change{Update: []*teleconsult.Teleconsultation{stale},
		Outbox: []teleconsult.OutboxMessage{Message(tc.ID, "u", teleconsult.InvitationCancel, 0)}})
	WantCode(t, err, teleconsult.ECONFLICT)
	err = f.s.Apply(context.Background(), teleconsult.Change{
		Outbox: []teleconsult.OutboxMessage{Message("no-such-teleconsultation", "u", teleconsult.InvitationCancel, 0)}})
	if err == nil {
		t.Error("a message for an unknown teleconsultation was stored")
	}
	if msgs := findOutbox(t, f.s, tc.ID); len(msgs) != 0 {
		t.Errorf("refused change left messages: %+v", msgs)
	}
}

func testOutboxOnly(t *testing.T, f *fixture) {
	tc := NewTC("")
	Create(t, f.s, tc)
	Apply(t, f.s, teleconsult.Change{Outbox: []teleconsult.OutboxMessage{Message(tc.ID, "u", teleconsult.InvitationInvite, 0)}})
	if msgs := findOutbox(t, f.s, tc.ID); len(msgs) != 1 {
		t.Errorf("%d messages", len(msgs))
	}
	if got := MustFind(t, f.s, tc.ID); got.Version != 1 {
		t.Errorf("an outbox-only change touched the teleconsultation: version %d", got.Version)
	}
}

// Ensure claims come oldest first, due only, hidden while leased, visible
// again after the lease or a release; sent and failed messages never.
func testOutboxClaim(t *testing.T, f *fixture) {
	ctx := context.Background()
	tc := NewTC("")
	Create(t, f.s, tc)
	var msgs []teleconsult.OutboxMessage
	for i := range 4 {
		m := Message(tc.ID, fmt.Sprintf("u%d", i), teleconsult.InvitationInvite, 0)
		m.NextAttemptAt = Base.Add(time.Duration(i) * time.Second)
		msgs = append(msgs, m)
	}
	ch := teleconsult.Change{Outbox: msgs}
	Apply(t, f.s, ch)
	all := ids(ch.Outbox)

	if got := claim(t, f.s, Base.Add(-time.Second), 10); len(got) != 0 {
		t.Errorf("claimed %v before they were due", ids(got))
	}
	got := claim(t, f.s, Base.Add(2*time.Second), 2)
	if !slices.Equal(ids(got), all[:2]) {
		t.Errorf("claimed %v, want %v", ids(got), all[:2])
	}
	if again := claim(t, f.s, Base.Add(2*time.Second), 10); !slices.Equal(ids(again), all[2:3]) {
		t.Errorf("then claimed %v, want %v (the first two are leased, the last is not due)", ids(again), all[2:3])
	}
	// The lease (a minute) ends: claimable again.
	if again := claim(t, f.s, Base.Add(2*time.Minute), 1); !slices.Equal(ids(again), all[:1]) {
		t.Errorf("after the lease: %v, want %v", ids(again), all[:1])
	}
	// Marks: sent, failed, pending later.
	now := Base.Add(3 * time.Minute)
	sent := got[0]
	sent.Status, sent.Attempts, sent.SentAt, sent.UpdatedAt = teleconsult.DeliverySent, 1, now, now
	mark(t, f.s, &sent)
	failed := got[1]
	failed.Status, failed.Attempts, failed.LastError, failed.UpdatedAt = teleconsult.DeliveryFailed, 1, "550 5.1.1 no such user", now
	mark(t, f.s, &failed)
	later := msgs[2]
	later.ID = all[2]
	later.Attempts, later.NextAttemptAt, later.LastError, later.UpdatedAt = 1, now.Add(time.Hour), "421 try later", now
	mark(t, f.s, &later)
	if again := claim(t, f.s, now, 10); !slices.Equal(ids(again), all[3:]) {
		t.Errorf("after marks: %v, want %v", ids(again), all[3:])
	}
	if again := claim(t, f.s, now.Add(time.Hour), 10); !slices.Equal(ids(again), all[2:]) {
		t.Errorf("after the backoff: %v, want %v (the last one's lease ended too)", ids(again), all[2:])
	}
	stored := findOutbox(t, f.s, tc.ID)
	if d := Diff(stored[0], sent); d != "" {
		t.Errorf("sent:%s", d)
	}
	if d := Diff(stored[1], failed); d != "" {
		t.Errorf("failed:%s", d)
	}
	if stored[2].LastError != "421 try later" || !stored[2].NextAttemptAt.Equal(now.Add(time.Hour)) {
		t.Errorf("retry: %+v", stored[2])
	}
	missing := sent
	missing.ID = 1 << 40
	WantCode(t, f.s.MarkOutbox(ctx, &missing), teleconsult.ENOTFOUND)
	blank := sent
	blank.Status = teleconsult.DeliveryUnknown
	WantCode(t, f.s.MarkOutbox(ctx, &blank), teleconsult.EINTERNAL)
}

// Ensure a participant's second message is not claimable while the first
// is pending (leased or waiting for a retry), and is once it is done.
func testOutboxPerParticipant(t *testing.T, f *fixture) {
	tc := NewTC("")
	Create(t, f.s, tc)
	ch := teleconsult.Change{Outbox: []teleconsult.OutboxMessage{
		Message(tc.ID, "a", teleconsult.InvitationInvite, 0),
		Message(tc.ID, "b", teleconsult.InvitationInvite, 0),
		Message(tc.ID, "a", teleconsult.InvitationUpdate, 1),
	}}
	Apply(t, f.s, ch)
	all := ids(ch.Outbox)
	got := claim(t, f.s, Base, 10)
	if !slices.Equal(ids(got), all[:2]) {
		t.Fatalf("claimed %v, want %v", ids(got), all[:2])
	}
	if again := claim(t, f.s, Base.Add(2*time.Minute), 10); !slices.Equal(ids(again), all[:2]) {
		t.Errorf("after the lease: %v, want %v (a's update still waits)", ids(again), all[:2])
	}
	first := got[0]
	first.Status, first.Attempts, first.SentAt, first.UpdatedAt = teleconsult.DeliverySent, 1, Base, Base
	mark(t, f.s, &first)
	if again := claim(t, f.s, Base.Add(2*time.Minute), 10); !slices.Equal(ids(again), all[2:]) {
		t.Errorf("after a's invitation was sent: %v, want %v", ids(again), all[2:])
	}
}

// Ensure concurrent workers never claim a message twice.
func testOutboxConcurrentClaims(t *testing.T, f *fixture) {
	tc := NewTC("")
	Create(t, f.s, tc)
	var msgs []teleconsult.OutboxMessage
	for i := range 60 {
		msgs = append(msgs, Message(tc.ID, fmt.Sprintf("u%02d", i), teleconsult.InvitationInvite, 0))
	}
	Apply(t, f.s, teleconsult.Change{Outbox: msgs})
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				got, err := f.s.ClaimOutbox(context.Background(), Base, time.Hour, 5)
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

// Ensure RecoverOutbox releases a dead process's claims where the store
// can tell ([Stores.RecoverReleases]) and leaves them to their lease
// elsewhere.
func testOutboxRecover(t *testing.T, f *fixture) {
	tc := NewTC("")
	Create(t, f.s, tc)
	Apply(t, f.s, teleconsult.Change{Outbox: []teleconsult.OutboxMessage{Message(tc.ID, "a", teleconsult.InvitationInvite, 0)}})
	if got := claim(t, f.s, Base, 10); len(got) != 1 {
		t.Fatalf("claimed %d", len(got))
	}
	n, err := f.s.RecoverOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	if f.RecoverReleases {
		want = 1
	}
	if n != want {
		t.Errorf("recovered %d claims, want %d", n, want)
	}
	if got := claim(t, f.s, Base, 10); len(got) != want {
		t.Errorf("claimable after recovery: %d, want %d", len(got), want)
	}
}

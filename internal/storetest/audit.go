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

// auditTests are the tests of [teleconsult.AuditStore].
var auditTests = []test{
	{"Audit/ChainedAndFound", testAuditChained},
	{"Audit/WrittenWithTheChange", testAuditWithChange},
	{"Audit/ConcurrentAppendsDoNotFork", testAuditConcurrent},
	{"Audit/TamperingIsFound", testAuditTamper},
	{"Audit/PruneKeepsTheChainVerifiable", testAuditPrune},
}

// AuditEntry returns a complete entry at t for teleconsultation tcID.
func AuditEntry(tcID string, action teleconsult.AuditAction, t time.Time) teleconsult.AuditEntry {
	return teleconsult.AuditEntry{
		Time: t,
		Actor: teleconsult.Actor{Kind: teleconsult.ActorAPIKey, KeyID: "0123456789abcdef", UserID: "doc-1",
			RequestID: "req-" + teleconsult.NewID()[:8], ClientAddr: "192.0.2.7"},
		TeleconsultationID: tcID, Action: action, Outcome: teleconsult.OutcomeOK,
	}
}

func appendAudit(t *testing.T, s teleconsult.Store, entries ...teleconsult.AuditEntry) []teleconsult.AuditEntry {
	t.Helper()
	if err := s.AppendAudit(context.Background(), entries); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	return entries
}

func findAudit(t *testing.T, s teleconsult.Store, q teleconsult.AuditQuery) []teleconsult.AuditEntry {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 1000
	}
	got, err := s.FindAudit(context.Background(), q)
	if err != nil {
		t.Fatalf("FindAudit(%+v): %v", q, err)
	}
	return got
}

func verifyAudit(t *testing.T, s teleconsult.Store) *teleconsult.AuditVerification {
	t.Helper()
	v, err := s.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	return v
}

func auditIDs(entries []teleconsult.AuditEntry) []int64 {
	out := make([]int64, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

// Ensure appended entries are numbered from 1, hashed, round-trip, are
// selected by teleconsultation, time and cursor, and verify.
func testAuditChained(t *testing.T, f *fixture) {
	if v := verifyAudit(t, f.s); v.Break != nil || v.Entries != 0 || v.Head.ID != 0 {
		t.Fatalf("empty trail: %+v", v)
	}
	at := Base.In(Rome).Add(123456789 * time.Nanosecond) // not UTC, below a microsecond
	a := appendAudit(t, f.s, AuditEntry("tc-a", teleconsult.AuditView, at))
	b := appendAudit(t, f.s, AuditEntry("tc-b", teleconsult.AuditCreate, at.Add(time.Minute)),
		AuditEntry("tc-a", teleconsult.AuditUpdate, at.Add(2*time.Minute)))
	b[1].Object, b[1].Outcome = "upload-1", teleconsult.EFORBIDDEN // not stored: only what was appended
	all := append(a, b...)
	if got := auditIDs(all); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("ids %v, want 1, 2, 3", got)
	}
	for _, e := range all {
		if len(e.Hash) != 32 {
			t.Fatalf("entry %d: hash %x", e.ID, e.Hash)
		}
	}
	got := findAudit(t, f.s, teleconsult.AuditQuery{})
	want := AuditEntry("tc-a", teleconsult.AuditView, at)
	want.ID, want.Hash = 1, a[0].Hash
	want.Time = at.UTC().Truncate(time.Microsecond)
	want.RequestID = a[0].RequestID
	if len(got) != 3 {
		t.Fatalf("found %d entries, want 3", len(got))
	}
	if d := Diff(got[0], want); d != "" {
		t.Errorf("entry 1 read back:%s", d)
	}
	if got[2].Outcome != teleconsult.OutcomeOK || got[2].Object != "" {
		t.Errorf("entry 3 read back: %+v", got[2])
	}
	for _, c := range []struct {
		q    teleconsult.AuditQuery
		want []int64
	}{
		{teleconsult.AuditQuery{TeleconsultationID: "tc-a"}, []int64{1, 3}},
		{teleconsult.AuditQuery{TeleconsultationID: "tc-c"}, []int64{}},
		{teleconsult.AuditQuery{From: at.Add(time.Minute)}, []int64{2, 3}},
		{teleconsult.AuditQuery{To: at.Add(time.Minute)}, []int64{1}},
		{teleconsult.AuditQuery{From: at.Add(time.Minute), To: at.Add(2 * time.Minute)}, []int64{2}},
		{teleconsult.AuditQuery{After: 1, Limit: 1}, []int64{2}},
		{teleconsult.AuditQuery{TeleconsultationID: "tc-a", After: 1}, []int64{3}},
	} {
		if got := auditIDs(findAudit(t, f.s, c.q)); !slices.Equal(got, c.want) {
			t.Errorf("FindAudit(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
	v := verifyAudit(t, f.s)
	if v.Break != nil || v.Entries != 3 || v.First != 1 || v.Last != 3 || v.Head.ID != 3 || string(v.Head.Hash) != string(b[1].Hash) {
		t.Fatalf("verify: %+v (break %+v)", v, v.Break)
	}
	err := f.s.AppendAudit(context.Background(), []teleconsult.AuditEntry{{Time: at, Action: teleconsult.AuditView}})
	WantCode(t, err, teleconsult.EINTERNAL)
}

// Ensure a change's entries are written with it, and not when it is
// refused.
func testAuditWithChange(t *testing.T, f *fixture) {
	tc := NewTC("appt-audit", NewParticipant(f.keys, "u1", "Anna", "", teleconsult.RolePlus, "doctor"))
	e := AuditEntry(tc.ID, teleconsult.AuditCreate, Base)
	ch := teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}, Audit: []teleconsult.AuditEntry{e}}
	Apply(t, f.s, ch)
	if ch.Audit[0].ID != 1 {
		t.Errorf("the change's entry got id %d, want 1", ch.Audit[0].ID)
	}
	// The same id again: refused, and its entry with it.
	again := NewTC("other")
	again.ID = tc.ID
	err := f.s.Apply(context.Background(), teleconsult.Change{Create: []*teleconsult.Teleconsultation{again},
		Audit: []teleconsult.AuditEntry{AuditEntry(tc.ID, teleconsult.AuditCreate, Base)}})
	WantCode(t, err, teleconsult.ECONFLICT)
	// An audit entry alone is a change too.
	Apply(t, f.s, teleconsult.Change{Audit: []teleconsult.AuditEntry{AuditEntry(tc.ID, teleconsult.AuditView, Base)}})
	got := findAudit(t, f.s, teleconsult.AuditQuery{TeleconsultationID: tc.ID})
	if !slices.Equal(auditIDs(got), []int64{1, 2}) || got[0].Action != teleconsult.AuditCreate || got[1].Action != teleconsult.AuditView {
		t.Fatalf("entries %+v, want the create's and the view's", got)
	}
	if v := verifyAudit(t, f.s); v.Break != nil || v.Entries != 2 {
		t.Fatalf("verify: %+v", v.Break)
	}
	err = f.s.Apply(context.Background(), teleconsult.Change{Audit: []teleconsult.AuditEntry{{Time: Base}}})
	WantCode(t, err, teleconsult.EINTERNAL)
}

// Ensure appends from many goroutines, alone and with changes, make one
// chain without gaps or forks.
func testAuditConcurrent(t *testing.T, f *fixture) {
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := AuditEntry(fmt.Sprintf("tc-%d", w), teleconsult.AuditView, Base.Add(time.Duration(i)*time.Second))
				var err error
				if i%5 == 0 {
					tc := NewTC("")
					e.TeleconsultationID = tc.ID
					err = f.s.Apply(context.Background(), teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}, Audit: []teleconsult.AuditEntry{e}})
				} else {
					err = f.s.AppendAudit(context.Background(), []teleconsult.AuditEntry{e, e})
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := workers * (each/5 + 2*(each-each/5))
	v := verifyAudit(t, f.s)
	if v.Break != nil || v.Entries != want || v.Last != int64(want) {
		t.Fatalf("verify: %d entries up to %d (break %+v), want %d", v.Entries, v.Last, v.Break, want)
	}
}

// Ensure an entry edited or deleted by hand, or the last ones deleted, is
// reported with the first entry that does not verify.
func testAuditTamper(t *testing.T, f *fixture) {
	if f.Tamper == nil {
		t.Skip("the store cannot be tampered with by this test")
	}
	for range 6 {
		appendAudit(t, f.s, AuditEntry("tc-a", teleconsult.AuditView, Base))
	}
	if v := verifyAudit(t, f.s); v.Break != nil {
		t.Fatalf("before tampering: %+v", v.Break)
	}
	f.Tamper(t, "delete", 6)
	v := verifyAudit(t, f.s)
	if v.Break == nil || v.Break.ID != 6 {
		t.Fatalf("last entry deleted: break %+v, want at 6", v.Break)
	}
	f.Tamper(t, "delete", 4)
	if v := verifyAudit(t, f.s); v.Break == nil || v.Break.ID != 4 || v.Entries != 3 {
		t.Fatalf("entry 4 deleted: %+v (break %+v), want a break at 4 after 3 entries", v, v.Break)
	}
	f.Tamper(t, "edit", 2)
	if v := verifyAudit(t, f.s); v.Break == nil || v.Break.ID != 2 || v.Entries != 1 {
		t.Fatalf("entry 2 edited: %+v (break %+v), want a break at 2", v, v.Break)
	}
}

// Ensure pruning deletes the old entries only, records itself when it
// deleted some, and leaves
// a chain that verifies from its anchor; and that entries deleted past the
// anchor are still found.
func testAuditPrune(t *testing.T, f *fixture) {
	for i := range 5 {
		appendAudit(t, f.s, AuditEntry("tc-a", teleconsult.AuditView, Base.Add(time.Duration(i)*time.Hour)))
	}
	rec := AuditEntry("", teleconsult.AuditPrune, Base.Add(10*time.Hour))
	rec.Kind = teleconsult.ActorService
	n, err := f.s.PruneAudit(context.Background(), Base.Add(3*time.Hour), rec)
	if err != nil || n != 3 {
		t.Fatalf("PruneAudit = %d, %v; want 3", n, err)
	}
	got := findAudit(t, f.s, teleconsult.AuditQuery{})
	if !slices.Equal(auditIDs(got), []int64{4, 5, 6}) || got[2].Action != teleconsult.AuditPrune || got[2].Object != "3" {
		t.Fatalf("after pruning: %+v", got)
	}
	v := verifyAudit(t, f.s)
	if v.Break != nil || v.Anchor != 3 || v.Entries != 3 || v.First != 4 {
		t.Fatalf("after pruning: %+v (break %+v)", v, v.Break)
	}
	// Nothing old enough: nothing changes, not even a record.
	if n, err := f.s.PruneAudit(context.Background(), Base, rec); err != nil || n != 0 {
		t.Fatalf("PruneAudit = %d, %v; want 0", n, err)
	}
	if v := verifyAudit(t, f.s); v.Break != nil || v.Anchor != 3 || v.Last != 6 {
		t.Fatalf("after pruning nothing: %+v (break %+v)", v, v.Break)
	}
	if f.Tamper != nil {
		f.Tamper(t, "delete", 4) // the first entry after the anchor
		if v := verifyAudit(t, f.s); v.Break == nil || v.Break.ID != 4 {
			t.Fatalf("first entry after the anchor deleted: break %+v, want at 4", v.Break)
		}
	}
}

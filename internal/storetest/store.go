package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// storeTests are the tests of [teleconsult.Store] without the outbox.
var storeTests = []test{
	{"RoundTrip", testRoundTrip},
	{"RoundTripMinimal", testRoundTripMinimal},
	{"Times", testTimes},
	{"FindByAppointmentLiveOnly", testFindByAppointment},
	{"ReplaceInOneChange", testReplaceInOneChange},
	{"FindByLinkHash", testFindByLinkHash},
	{"VersionConflict", testVersionConflict},
	{"UpdateUnknown", testUpdateUnknown},
	{"RefuseDerivedState", testRefuseDerivedState},
	{"RefuseInvalid", testRefuseInvalid},
	{"AppointmentUniqueUnderConcurrency", testAppointmentConcurrency},
	{"ConcurrentWriters", testConcurrentWriters},
	{"UserMapFirstWriterWins", testUserMap},
	{"ProviderUsers", testProviderUsers},
	{"KnownUser", testKnownUser},
	{"CountByState", testCountByState},
	{"Ping", testPing},
	{"ParticipantsRewritten", testParticipantsRewritten},
}

func testPing(t *testing.T, f *fixture) {
	if err := f.s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testRoundTrip(t *testing.T, f *fixture) {
	ctx := context.Background()
	doctor := NewParticipant(f.keys, "doc-1", "Dr. Anna Bianchi", "Anna.Bianchi@Example.org", teleconsult.RolePlus, "doctor")
	patient := NewParticipant(f.keys, "pat-1", "Mario Rossi", "", teleconsult.RoleBasic, "patient", "vip")
	gone := NewParticipant(f.keys, "pat-2", "Luigi Verdi", "luigi@example.org", teleconsult.RoleBasic, "patient")
	gone.RemovedAt = Base.Add(-time.Hour).In(Rome)
	tc := NewTC("appt-1", doctor, patient, gone)
	tc.State = teleconsult.StateInProgress
	tc.ProviderRoomID = "room-42"
	tc.RoomRevision = 3
	tc.ReplacedBy = "" // live
	tc.StartDate = Base.In(Rome)
	tc.CallStartedAt = Base.Add(time.Minute + 456789*time.Nanosecond)
	tc.CallUsed = 90*time.Second + 1500*time.Nanosecond
	tc.CallFirstStartedAt = Base.Add(-time.Minute + 2500*time.Nanosecond)
	tc.Version = 7 // ignored on create

	Create(t, f.s, tc)
	want := &teleconsult.Teleconsultation{
		ID: tc.ID, AppointmentID: "appt-1", StartDate: Base, EndDate: Base.Add(30 * time.Minute),
		ExpectedParticipants: 3, Provider: "sfu", ProviderRoomID: "room-42", State: teleconsult.StateInProgress,
		Version: 1, RoomRevision: 3, CreatedAt: Base.Add(-24 * time.Hour), UpdatedAt: Base.Add(-24 * time.Hour),
		CallStartedAt:      Base.Add(time.Minute + 456*time.Microsecond), // truncated to µs
		CallUsed:           90*time.Second + time.Microsecond,
		CallFirstStartedAt: Base.Add(-time.Minute + 2*time.Microsecond),
		Participants: []teleconsult.Participant{
			doctor, patient,
			{UserID: "pat-2", Groups: []string{"patient"}, FullName: "Luigi Verdi", Email: "luigi@example.org",
				Language: "it", TimeZone: "Europe/Rome", Role: teleconsult.RoleBasic, ProviderUserID: "prov-pat-2",
				LinkNonce: gone.LinkNonce, LinkHash: gone.LinkHash, RemovedAt: Base.Add(-time.Hour)},
		},
	}
	if d := Diff(tc, want); d != "" {
		t.Errorf("struct after Apply:%s", d)
	}
	got := MustFind(t, f.s, tc.ID)
	if d := Diff(got, want); d != "" {
		t.Errorf("FindByID:%s", d)
	}
	if got.StartDate.Location() != time.UTC {
		t.Errorf("got StartDate in %v, want UTC", got.StartDate.Location())
	}
	if got, err := f.s.FindByAppointment(ctx, "appt-1"); err != nil || got.ID != tc.ID {
		t.Errorf("FindByAppointment: got %v, %v; want %s", got, err, tc.ID)
	}
}

func testRoundTripMinimal(t *testing.T, f *fixture) {
	// No appointment, no participants, nothing optional.
	tc := NewTC("")
	Create(t, f.s, tc)
	got := MustFind(t, f.s, tc.ID)
	if d := Diff(got, tc); d != "" {
		t.Errorf("FindByID:%s", d)
	}
	_, err := f.s.FindByAppointment(context.Background(), "")
	WantCode(t, err, teleconsult.ENOTFOUND)
	_, err = f.s.FindByID(context.Background(), "no-such-id")
	WantCode(t, err, teleconsult.ENOTFOUND)
}

func testTimes(t *testing.T, f *fixture) {
	now := time.Now()
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"ms precision in another zone", time.Date(2030, 7, 1, 10, 0, 0, 999_000_000, Rome), time.Date(2030, 7, 1, 8, 0, 0, 999_000_000, time.UTC)},
		{"µs precision", time.Date(2030, 1, 1, 0, 0, 0, 1_000, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 1_000, time.UTC)},
		{"ns truncated to µs", time.Date(2030, 1, 1, 0, 0, 0, 1_999, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 1_000, time.UTC)},
		{"with monotonic clock reading", now, now.UTC().Truncate(time.Microsecond)},
		{"far future", time.Date(2199, 12, 31, 23, 59, 59, 999_000_000, time.UTC), time.Date(2199, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := NewTC("")
			tc.StartDate, tc.EndDate, tc.CreatedAt, tc.UpdatedAt, tc.CallStartedAt = tt.in, tt.in, tt.in, tt.in, tt.in
			want := tt.want
			Create(t, f.s, tc)
			got := MustFind(t, f.s, tc.ID)
			for _, g := range []time.Time{got.StartDate, got.EndDate, got.CreatedAt, got.UpdatedAt, got.CallStartedAt, tc.StartDate} {
				if !g.Equal(want) || g.Location() != time.UTC {
					t.Errorf("got %v, want %v (UTC)", g, want)
				}
			}
			if !got.StartDate.Equal(tc.StartDate) {
				t.Errorf("stored %v and written struct %v differ", got.StartDate, tc.StartDate)
			}
		})
	}
}

func testFindByAppointment(t *testing.T, f *fixture) {
	ctx := context.Background()
	first := NewTC("appt-7")
	Create(t, f.s, first)
	first.State = teleconsult.StateCancelled
	Apply(t, f.s, teleconsult.Change{Update: []*teleconsult.Teleconsultation{first}})
	_, err := f.s.FindByAppointment(ctx, "appt-7")
	WantCode(t, err, teleconsult.ENOTFOUND)

	second := NewTC("appt-7")
	Create(t, f.s, second)
	other := NewTC("appt-8")
	Create(t, f.s, other)

	tests := []struct {
		appointment string
		want        string // id, or "" for ENOTFOUND
	}{
		{"appt-7", second.ID},
		{"appt-8", other.ID},
		{"appt-9", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := f.s.FindByAppointment(ctx, tt.appointment)
		if tt.want == "" {
			WantCode(t, err, teleconsult.ENOTFOUND)
			continue
		}
		if err != nil || got.ID != tt.want {
			t.Errorf("FindByAppointment(%q): got %v, %v; want %s", tt.appointment, got, err, tt.want)
		}
	}
	// The cancelled one is still there by id.
	if got := MustFind(t, f.s, first.ID); got.State != teleconsult.StateCancelled {
		t.Errorf("got state %v, want cancelled", got.State)
	}
}

// testReplaceInOneChange is the service's replacement: one change creates
// the new teleconsultation of an appointment and marks the old one replaced.
func testReplaceInOneChange(t *testing.T, f *fixture) {
	ctx := context.Background()
	old := NewTC("appt-r")
	Create(t, f.s, old)

	// Without replacing the old one, a second live one is refused.
	dup := NewTC("appt-r")
	err := f.s.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{dup}})
	WantCode(t, err, teleconsult.ECONFLICT)
	if dup.Version != 0 {
		t.Errorf("refused create: got Version %d, want 0", dup.Version)
	}

	repl := NewTC("appt-r")
	old.State, old.ReplacedBy = teleconsult.StateReplaced, repl.ID
	Apply(t, f.s, teleconsult.Change{Create: []*teleconsult.Teleconsultation{repl}, Update: []*teleconsult.Teleconsultation{old}})
	got, err := f.s.FindByAppointment(ctx, "appt-r")
	if err != nil || got.ID != repl.ID {
		t.Fatalf("FindByAppointment: got %v, %v; want %s", got, err, repl.ID)
	}
	if got := MustFind(t, f.s, old.ID); got.State != teleconsult.StateReplaced || got.ReplacedBy != repl.ID || got.Version != 2 {
		t.Errorf("old: got state %v, replacedBy %q, version %d; want replaced by %s, version 2", got.State, got.ReplacedBy, got.Version, repl.ID)
	}
}

func testFindByLinkHash(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := NewParticipant(f.keys, "a", "Alice A", "a@example.org", teleconsult.RolePlus, "doctor")
	b := NewParticipant(f.keys, "b", "Bob B", "b@example.org", teleconsult.RoleBasic, "patient")
	b.RemovedAt = Base
	tc := NewTC("", a, b)
	unlinked := NewParticipant(f.keys, "d", "Dan D", "", teleconsult.RoleBasic, "patient")
	unlinked.LinkNonce, unlinked.LinkHash = nil, nil // no link: never found by an empty hash
	other := NewTC("", NewParticipant(f.keys, "c", "Carol C", "", teleconsult.RolePlus, "doctor"), unlinked)
	Create(t, f.s, tc, other)
	tests := []struct {
		name string
		hash []byte
		want string // id, or "" for ENOTFOUND
	}{
		{"active participant", a.LinkHash, tc.ID},
		{"removed participant", b.LinkHash, tc.ID},
		{"other teleconsultation", other.Participants[0].LinkHash, other.ID},
		{"unknown", teleconsult.LinkHash("nope"), ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		got, err := f.s.FindByLinkHash(ctx, tt.hash)
		if tt.want == "" {
			WantCode(t, err, teleconsult.ENOTFOUND)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got.ID != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got.ID, tt.want)
		}
		if tt.want == tc.ID {
			if d := Diff(got, tc); d != "" {
				t.Errorf("%s:%s", tt.name, d)
			}
		}
	}
}

func testVersionConflict(t *testing.T, f *fixture) {
	ctx := context.Background()
	doc := NewParticipant(f.keys, "doc", "Dr. Who Knows", "who@example.org", teleconsult.RolePlus, "doctor")
	tc := NewTC("appt-v", doc)
	Create(t, f.s, tc)
	mine, theirs := MustFind(t, f.s, tc.ID), MustFind(t, f.s, tc.ID)

	mine.ExpectedParticipants = 5
	Apply(t, f.s, teleconsult.Change{Update: []*teleconsult.Teleconsultation{mine}})
	if mine.Version != 2 {
		t.Errorf("after update: got Version %d, want 2", mine.Version)
	}

	// A stale update fails, and so does everything else in its change.
	theirs.ExpectedParticipants = 9
	theirs.Participants[0].FullName = "Changed Name"
	extra := NewTC("appt-other", NewParticipant(f.keys, "x", "Xavier X", "", teleconsult.RolePlus, "doctor"))
	err := f.s.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{extra}, Update: []*teleconsult.Teleconsultation{theirs}})
	WantCode(t, err, teleconsult.ECONFLICT)
	if want := "teleconsultation " + tc.ID + " was changed concurrently; retry"; teleconsult.ErrorMessage(err) != want {
		t.Errorf("got message %q, want %q", teleconsult.ErrorMessage(err), want)
	}
	if strings.Contains(err.Error(), "Who Knows") || strings.Contains(err.Error(), "Changed Name") {
		t.Errorf("error holds patient data: %v", err)
	}
	if theirs.Version != 1 || extra.Version != 0 {
		t.Errorf("failed change touched the structs: versions %d, %d; want 1, 0", theirs.Version, extra.Version)
	}
	if _, err := f.s.FindByID(ctx, extra.ID); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("create of the failed change was written: %v", err)
	}
	if _, err := f.s.FindByLinkHash(ctx, extra.Participants[0].LinkHash); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("participant of the failed change was written: %v", err)
	}
	if got, _ := f.s.ProviderUsers(ctx, "sfu", []string{"x"}); len(got) != 0 {
		t.Errorf("user map of the failed change was written: %v", got)
	}
	if d := Diff(MustFind(t, f.s, tc.ID), mine); d != "" {
		t.Errorf("stored:%s", d)
	}
}

func testUpdateUnknown(t *testing.T, f *fixture) {
	tc := NewTC("")
	tc.Version = 1
	err := f.s.Apply(context.Background(), teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}})
	WantCode(t, err, teleconsult.ENOTFOUND)
}

func testRefuseDerivedState(t *testing.T, f *fixture) {
	for _, s := range []teleconsult.State{teleconsult.StateUnknown, teleconsult.StateOpen, teleconsult.StateExpired} {
		tc := NewTC("")
		tc.State = s
		err := f.s.Apply(context.Background(), teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}})
		WantCode(t, err, teleconsult.EINTERNAL)
	}
	if n, _ := f.s.CountByState(context.Background()); len(n) != 0 {
		t.Errorf("got %v stored, want none", n)
	}
}

// testAppointmentConcurrency: of 20 concurrent creates for one appointment
// exactly one commits; the others get ECONFLICT.
func testAppointmentConcurrency(t *testing.T, f *fixture) {
	ctx := context.Background()
	const n = 20
	tcs := make([]*teleconsult.Teleconsultation, n)
	for i := range tcs {
		tcs[i] = NewTC("appt-race", NewParticipant(f.keys, "doc", "Dr. Race", "", teleconsult.RolePlus, "doctor"))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range tcs {
		wg.Go(func() {
			<-start
			errs[i] = f.s.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tcs[i]}})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch teleconsult.ErrorCode(err) {
		case "":
			if winner >= 0 {
				t.Errorf("creates %d and %d both committed", winner, i)
			}
			winner = i
		case teleconsult.ECONFLICT:
		default:
			t.Errorf("create %d: got %v, want nil or ECONFLICT", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no create committed")
	}
	got, err := f.s.FindByAppointment(ctx, "appt-race")
	if err != nil || got.ID != tcs[winner].ID {
		t.Errorf("FindByAppointment: got %v, %v; want %s", got, err, tcs[winner].ID)
	}
	if c, _ := f.s.CountByState(ctx); c[teleconsult.StateWaiting] != 1 {
		t.Errorf("got %v stored, want 1 waiting", c)
	}
}

// testConcurrentWriters: 16 goroutines write (creates and updates) while
// others read; nothing fails (no SQLITE_BUSY).
func testConcurrentWriters(t *testing.T, f *fixture) {
	ctx := context.Background()
	const writers, each = 16, 4
	var wg sync.WaitGroup
	errc := make(chan error, writers*each*3)
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				tc := NewTC("", NewParticipant(f.keys, "doc", "Dr. Busy", "", teleconsult.RolePlus, "doctor"),
					NewParticipant(f.keys, "pat", "Pat Busy", "", teleconsult.RoleBasic, "patient"))
				if err := f.s.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}}); err != nil {
					errc <- err
					return
				}
				tc.State = teleconsult.StateScheduled
				if err := f.s.Apply(ctx, teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}}); err != nil {
					errc <- err
					return
				}
				if _, err := f.s.EnsureProviderUser(ctx, "sfu", fmt.Sprintf("user-%c%c", 'a'+w, 'a'+i), "p"); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.s.CountByState(ctx); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("concurrent write: %v", err)
	}
	if c, _ := f.s.CountByState(ctx); c[teleconsult.StateScheduled] != writers*each {
		t.Errorf("got %v, want %d scheduled", c, writers*each)
	}
}

func testUserMap(t *testing.T, f *fixture) {
	ctx := context.Background()
	if got, err := f.s.EnsureProviderUser(ctx, "kaleyra", "u1", "cand-1"); err != nil || got != "cand-1" {
		t.Fatalf("EnsureProviderUser: got %q, %v; want cand-1", got, err)
	}
	if got, err := f.s.EnsureProviderUser(ctx, "kaleyra", "u1", "cand-2"); err != nil || got != "cand-1" {
		t.Fatalf("EnsureProviderUser again: got %q, %v; want cand-1 (first writer wins)", got, err)
	}
	u1 := NewParticipant(f.keys, "u1", "User One", "", teleconsult.RolePlus, "doctor")
	u1.ProviderUserID = "mine" // loses to the map
	u2 := NewParticipant(f.keys, "u2", "User Two", "", teleconsult.RoleBasic, "patient")
	u2.ProviderUserID = "p-2" // new: inserted
	u3 := NewParticipant(f.keys, "u3", "User Three", "", teleconsult.RoleBasic, "patient")
	u3.ProviderUserID = "" // unmapped and no candidate: stays empty
	tc := NewTC("", u1, u2, u3)
	tc.Provider = "kaleyra"
	Create(t, f.s, tc)

	wantIDs := []string{"cand-1", "p-2", ""}
	for _, got := range []*teleconsult.Teleconsultation{tc, MustFind(t, f.s, tc.ID)} {
		var ids []string
		for _, p := range got.Participants {
			ids = append(ids, p.ProviderUserID)
		}
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("got provider user ids %q, want %q", ids, wantIDs)
		}
	}

	// A later teleconsultation gets the mapped ids, also for a participant
	// that had none; another provider has its own map.
	v2 := NewParticipant(f.keys, "u2", "User Two", "", teleconsult.RoleBasic, "patient")
	v2.ProviderUserID = "p-2-other"
	v1 := NewParticipant(f.keys, "u1", "User One", "", teleconsult.RolePlus, "doctor")
	v1.ProviderUserID = ""
	later := NewTC("", v2, v1)
	later.Provider = "kaleyra"
	elsewhere := NewTC("", NewParticipant(f.keys, "u1", "User One", "", teleconsult.RolePlus, "doctor"))
	elsewhere.Provider = "daily"
	Create(t, f.s, later, elsewhere)
	if got := []string{later.Participants[0].ProviderUserID, later.Participants[1].ProviderUserID}; !slices.Equal(got, []string{"p-2", "cand-1"}) {
		t.Errorf("later: got %q, want [p-2 cand-1]", got)
	}
	if got := elsewhere.Participants[0].ProviderUserID; got != "prov-u1" {
		t.Errorf("other provider: got %q, want prov-u1", got)
	}
	if got, err := f.s.EnsureProviderUser(ctx, "kaleyra", "u2", "cand-x"); err != nil || got != "p-2" {
		t.Errorf("EnsureProviderUser(u2): got %q, %v; want p-2", got, err)
	}
}

func testProviderUsers(t *testing.T, f *fixture) {
	ctx := context.Background()
	for _, u := range []string{"a", "b", "c"} {
		if _, err := f.s.EnsureProviderUser(ctx, "kaleyra", u, "k-"+u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.s.EnsureProviderUser(ctx, "daily", "a", "d-a"); err != nil {
		t.Fatal(err)
	}
	many := make([]string, 1200) // more than one query's worth
	for i := range many {
		many[i] = "nobody-" + string(rune('A'+i%26)) + strings.Repeat("x", i%7)
	}
	tests := []struct {
		name     string
		provider string
		ids      []string
		want     map[string]string
	}{
		{"some mapped", "kaleyra", []string{"a", "c", "zz"}, map[string]string{"a": "k-a", "c": "k-c"}},
		{"other provider", "daily", []string{"a", "b"}, map[string]string{"a": "d-a"}},
		{"unknown provider", "nope", []string{"a"}, map[string]string{}},
		{"none asked", "kaleyra", nil, map[string]string{}},
		{"many asked", "kaleyra", append(many, "b"), map[string]string{"b": "k-b"}},
	}
	for _, tt := range tests {
		got, err := f.s.ProviderUsers(ctx, tt.provider, tt.ids)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if d := Diff(got, tt.want); d != "" {
			t.Errorf("%s:%s", tt.name, d)
		}
	}
}

func testCountByState(t *testing.T, f *fixture) {
	ctx := context.Background()
	got, err := f.s.CountByState(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty database: got %v, %v; want none", got, err)
	}
	states := []teleconsult.State{teleconsult.StateWaiting, teleconsult.StateWaiting, teleconsult.StateScheduled,
		teleconsult.StateInProgress, teleconsult.StateEnded, teleconsult.StateCancelled, teleconsult.StateReplaced, teleconsult.StateReplaced}
	for _, s := range states {
		tc := NewTC("")
		tc.State = s
		Create(t, f.s, tc)
	}
	got, err = f.s.CountByState(ctx)
	want := map[teleconsult.State]int{teleconsult.StateWaiting: 2, teleconsult.StateScheduled: 1, teleconsult.StateInProgress: 1,
		teleconsult.StateEnded: 1, teleconsult.StateCancelled: 1, teleconsult.StateReplaced: 2}
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(got, want); d != "" {
		t.Error(d)
	}
}

func testParticipantsRewritten(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := NewParticipant(f.keys, "a", "Alice Old", "alice@old.example", teleconsult.RolePlus, "doctor")
	b := NewParticipant(f.keys, "b", "Bob", "bob@example.org", teleconsult.RoleBasic, "patient")
	c := NewParticipant(f.keys, "c", "Carl", "", teleconsult.RoleBasic, "patient")
	tc := NewTC("", a, b, c)
	Create(t, f.s, tc)

	// Change a, remove b, drop c from the list entirely, add d.
	tc = MustFind(t, f.s, tc.ID)
	tc.Participants[0].FullName, tc.Participants[0].Email = "Alice New", ""
	tc.Participants[0].Groups = []string{"doctor", "admin"}
	tc.Participants[1].RemovedAt = Base.Add(-time.Hour)
	d := NewParticipant(f.keys, "d", "Dora", "dora@example.org", teleconsult.RoleBasic, "patient")
	tc.Participants = append(tc.Participants[:2], d)
	tc.UpdatedAt = Base
	Apply(t, f.s, teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}})

	got := MustFind(t, f.s, tc.ID)
	if d := Diff(got, tc); d != "" {
		t.Errorf("FindByID:%s", d)
	}
	var order []string
	for _, p := range got.Participants {
		order = append(order, p.UserID)
	}
	if want := []string{"a", "b", "d"}; !slices.Equal(order, want) {
		t.Errorf("got order %q, want %q", order, want)
	}
	if _, err := f.s.FindByLinkHash(ctx, c.LinkHash); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("dropped participant's link: got %v, want ENOTFOUND", err)
	}
	if got, err := f.s.FindByLinkHash(ctx, b.LinkHash); err != nil || got.ID != tc.ID {
		t.Errorf("removed participant's link: got %v, %v", got, err)
	}
}

// testKnownUser: a user is known while an active participant of a live
// teleconsultation; removal, cancellation and replacement end it.
func testKnownUser(t *testing.T, f *fixture) {
	ctx := context.Background()
	known := func(user string) bool {
		t.Helper()
		ok, err := f.s.KnownUser(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	a := NewTC("appt-a", NewParticipant(f.keys, "doc", "D", "", teleconsult.RolePlus, "doctor"),
		NewParticipant(f.keys, "pat", "P", "", teleconsult.RoleBasic, "patient"))
	b := NewTC("appt-b", NewParticipant(f.keys, "doc", "D", "", teleconsult.RolePlus, "doctor"))
	Create(t, f.s, a, b)
	if !known("doc") || !known("pat") || known("stranger") || known("") {
		t.Fatal("after create")
	}
	a = MustFind(t, f.s, a.ID)
	a.Participants[1].RemovedAt = Base
	Apply(t, f.s, teleconsult.Change{Update: []*teleconsult.Teleconsultation{a}})
	if known("pat") {
		t.Error("a removed participant is still known")
	}
	a = MustFind(t, f.s, a.ID)
	a.State = teleconsult.StateCancelled
	Apply(t, f.s, teleconsult.Change{Update: []*teleconsult.Teleconsultation{a}})
	if !known("doc") {
		t.Error("doc is in b still")
	}
	b = MustFind(t, f.s, b.ID)
	b.State = teleconsult.StateReplaced
	Apply(t, f.s, teleconsult.Change{Update: []*teleconsult.Teleconsultation{b}})
	if known("doc") {
		t.Error("a user of cancelled and replaced visits only is still known")
	}
}

// testRefuseInvalid: a change that breaks a rule of the store is refused
// whole (EINTERNAL for a caller's bug, ECONFLICT for a uniqueness
// violation) and writes nothing.
func testRefuseInvalid(t *testing.T, f *fixture) {
	ctx := context.Background()
	stored := NewTC("appt-i", NewParticipant(f.keys, "doc", "D", "", teleconsult.RolePlus, "doctor"))
	Create(t, f.s, stored)
	tests := []struct {
		name string
		ch   func() teleconsult.Change
		code string
	}{
		{"nil teleconsultation", func() teleconsult.Change {
			return teleconsult.Change{Create: []*teleconsult.Teleconsultation{NewTC(""), nil}}
		}, teleconsult.EINTERNAL},
		{"no id", func() teleconsult.Change {
			tc := NewTC("")
			tc.ID = ""
			return teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}}
		}, teleconsult.EINTERNAL},
		{"participant without user id", func() teleconsult.Change {
			return teleconsult.Change{Create: []*teleconsult.Teleconsultation{NewTC("", NewParticipant(f.keys, "", "N", "", teleconsult.RoleBasic, "patient"))}}
		}, teleconsult.EINTERNAL},
		{"incomplete outbox message", func() teleconsult.Change {
			tc := NewTC("")
			m := Message(tc.ID, "", teleconsult.InvitationInvite, 0)
			return teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}, Outbox: []teleconsult.OutboxMessage{m}}
		}, teleconsult.EINTERNAL},
		{"id taken", func() teleconsult.Change {
			tc := NewTC("")
			tc.ID = stored.ID
			return teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}}
		}, teleconsult.ECONFLICT},
		{"same user twice", func() teleconsult.Change {
			return teleconsult.Change{Create: []*teleconsult.Teleconsultation{NewTC("",
				NewParticipant(f.keys, "u", "U", "", teleconsult.RoleBasic, "patient"),
				NewParticipant(f.keys, "u", "U", "", teleconsult.RoleBasic, "patient"))}}
		}, teleconsult.ECONFLICT},
		{"link hash taken", func() teleconsult.Change {
			p := NewParticipant(f.keys, "other", "O", "", teleconsult.RoleBasic, "patient")
			p.LinkNonce, p.LinkHash = stored.Participants[0].LinkNonce, stored.Participants[0].LinkHash
			return teleconsult.Change{Create: []*teleconsult.Teleconsultation{NewTC("", p)}}
		}, teleconsult.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := tt.ch()
			WantCode(t, f.s.Apply(ctx, ch), tt.code)
			for _, tc := range ch.Create {
				if tc == nil {
					continue
				}
				if tc.Version != 0 {
					t.Errorf("refused create: got Version %d, want 0", tc.Version)
				}
				if msgs, _ := f.s.FindOutbox(ctx, tc.ID); len(msgs) != 0 && tc.ID != stored.ID {
					t.Errorf("refused change wrote messages: %v", msgs)
				}
			}
			if n, err := f.s.CountByState(ctx); err != nil || len(n) != 1 || n[teleconsult.StateWaiting] != 1 {
				t.Errorf("got %v stored (%v), want the one waiting", n, err)
			}
		})
	}
	if got := MustFind(t, f.s, stored.ID); got.Version != 1 || len(got.Participants) != 1 {
		t.Errorf("stored teleconsultation changed: %+v", got)
	}
}

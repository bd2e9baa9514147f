package sqlstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/pgtest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// fixture is one test's database.
type fixture struct {
	dsn  string
	keys *teleconsult.Keyring
	db   *DB // opened and migrated
}

// TestStore runs the store suite against SQLite and PostgreSQL.
func TestStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testStore(t, b.dsn)
		})
	}
}

// testStore runs every store test on a fresh database from newDSN.
func testStore(t *testing.T, newDSN func(testing.TB) string) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"RoundTrip", testRoundTrip},
		{"RoundTripMinimal", testRoundTripMinimal},
		{"Times", testTimes},
		{"FindByAppointmentLiveOnly", testFindByAppointment},
		{"ReplaceInOneChange", testReplaceInOneChange},
		{"FindByLinkHash", testFindByLinkHash},
		{"VersionConflict", testVersionConflict},
		{"UpdateUnknown", testUpdateUnknown},
		{"RefuseDerivedState", testRefuseDerivedState},
		{"AppointmentUniqueUnderConcurrency", testAppointmentConcurrency},
		{"ConcurrentWriters", testConcurrentWriters},
		{"UserMapFirstWriterWins", testUserMap},
		{"ProviderUsers", testProviderUsers},
		{"KnownUser", testKnownUser},
		{"CountByState", testCountByState},
		{"Ping", testPing},
		{"MigrateIdempotent", testMigrateIdempotent},
		{"ParticipantsRewritten", testParticipantsRewritten},
		{"PatientDataEncryptedAtRest", testPatientData},
		{"WrongKey", testWrongKey},
		{"Uploads", testUploads},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := newDSN(t)
			keys := testKeys(t, 1)
			tt.run(t, &fixture{dsn: dsn, keys: keys, db: openDB(t, dsn, keys)})
		})
	}
}

func testRoundTrip(t *testing.T, f *fixture) {
	ctx := context.Background()
	doctor := newParticipant(f.keys, "doc-1", "Dr. Anna Bianchi", "Anna.Bianchi@Example.org", teleconsult.RolePlus, "doctor")
	patient := newParticipant(f.keys, "pat-1", "Mario Rossi", "", teleconsult.RoleBasic, "patient", "vip")
	gone := newParticipant(f.keys, "pat-2", "Luigi Verdi", "luigi@example.org", teleconsult.RoleBasic, "patient")
	gone.RemovedAt = base.Add(-time.Hour).In(rome)
	tc := newTC("appt-1", doctor, patient, gone)
	tc.State = teleconsult.StateInProgress
	tc.ProviderRoomID = "room-42"
	tc.RoomRevision = 3
	tc.ReplacedBy = "" // live
	tc.StartDate = base.In(rome)
	tc.CallStartedAt = base.Add(time.Minute + 456789*time.Nanosecond)
	tc.CallUsed = 90*time.Second + 1500*time.Nanosecond
	tc.Version = 7 // ignored on create

	create(t, f.db, tc)
	want := &teleconsult.Teleconsultation{
		ID: tc.ID, AppointmentID: "appt-1", StartDate: base, EndDate: base.Add(30 * time.Minute),
		ExpectedParticipants: 3, Provider: "sfu", ProviderRoomID: "room-42", State: teleconsult.StateInProgress,
		Version: 1, RoomRevision: 3, CreatedAt: base.Add(-24 * time.Hour), UpdatedAt: base.Add(-24 * time.Hour),
		CallStartedAt: base.Add(time.Minute + 456*time.Microsecond), // truncated to µs
		CallUsed:      90*time.Second + time.Microsecond,
		Participants: []teleconsult.Participant{
			doctor, patient,
			{UserID: "pat-2", Groups: []string{"patient"}, FullName: "Luigi Verdi", Email: "luigi@example.org",
				Language: "it", TimeZone: "Europe/Rome", Role: teleconsult.RoleBasic, ProviderUserID: "prov-pat-2",
				LinkNonce: gone.LinkNonce, LinkHash: gone.LinkHash, RemovedAt: base.Add(-time.Hour)},
		},
	}
	if d := diff(tc, want); d != "" {
		t.Errorf("struct after Apply:%s", d)
	}
	got := mustFind(t, f.db, tc.ID)
	if d := diff(got, want); d != "" {
		t.Errorf("FindByID:%s", d)
	}
	if got.StartDate.Location() != time.UTC {
		t.Errorf("got StartDate in %v, want UTC", got.StartDate.Location())
	}
	if got, err := f.db.FindByAppointment(ctx, "appt-1"); err != nil || got.ID != tc.ID {
		t.Errorf("FindByAppointment: got %v, %v; want %s", got, err, tc.ID)
	}
}

func testRoundTripMinimal(t *testing.T, f *fixture) {
	// No appointment, no participants, nothing optional.
	tc := newTC("")
	create(t, f.db, tc)
	got := mustFind(t, f.db, tc.ID)
	if d := diff(got, tc); d != "" {
		t.Errorf("FindByID:%s", d)
	}
	_, err := f.db.FindByAppointment(context.Background(), "")
	wantCode(t, err, teleconsult.ENOTFOUND)
	_, err = f.db.FindByID(context.Background(), "no-such-id")
	wantCode(t, err, teleconsult.ENOTFOUND)
}

func testTimes(t *testing.T, f *fixture) {
	now := time.Now()
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"ms precision in another zone", time.Date(2030, 7, 1, 10, 0, 0, 999_000_000, rome), time.Date(2030, 7, 1, 8, 0, 0, 999_000_000, time.UTC)},
		{"µs precision", time.Date(2030, 1, 1, 0, 0, 0, 1_000, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 1_000, time.UTC)},
		{"ns truncated to µs", time.Date(2030, 1, 1, 0, 0, 0, 1_999, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 1_000, time.UTC)},
		{"with monotonic clock reading", now, now.UTC().Truncate(time.Microsecond)},
		{"far future", time.Date(2199, 12, 31, 23, 59, 59, 999_000_000, time.UTC), time.Date(2199, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTC("")
			tc.StartDate, tc.EndDate, tc.CreatedAt, tc.UpdatedAt, tc.CallStartedAt = tt.in, tt.in, tt.in, tt.in, tt.in
			want := tt.want
			create(t, f.db, tc)
			got := mustFind(t, f.db, tc.ID)
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
	first := newTC("appt-7")
	create(t, f.db, first)
	first.State = teleconsult.StateCancelled
	apply(t, f.db, teleconsult.Change{Update: []*teleconsult.Teleconsultation{first}})
	_, err := f.db.FindByAppointment(ctx, "appt-7")
	wantCode(t, err, teleconsult.ENOTFOUND)

	second := newTC("appt-7")
	create(t, f.db, second)
	other := newTC("appt-8")
	create(t, f.db, other)

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
		got, err := f.db.FindByAppointment(ctx, tt.appointment)
		if tt.want == "" {
			wantCode(t, err, teleconsult.ENOTFOUND)
			continue
		}
		if err != nil || got.ID != tt.want {
			t.Errorf("FindByAppointment(%q): got %v, %v; want %s", tt.appointment, got, err, tt.want)
		}
	}
	// The cancelled one is still there by id.
	if got := mustFind(t, f.db, first.ID); got.State != teleconsult.StateCancelled {
		t.Errorf("got state %v, want cancelled", got.State)
	}
}

// testReplaceInOneChange is the service's replacement: one change creates
// the new teleconsultation of an appointment and marks the old one replaced.
func testReplaceInOneChange(t *testing.T, f *fixture) {
	ctx := context.Background()
	old := newTC("appt-r")
	create(t, f.db, old)

	// Without replacing the old one, a second live one is refused.
	dup := newTC("appt-r")
	err := f.db.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{dup}})
	wantCode(t, err, teleconsult.ECONFLICT)
	if dup.Version != 0 {
		t.Errorf("refused create: got Version %d, want 0", dup.Version)
	}

	repl := newTC("appt-r")
	old.State, old.ReplacedBy = teleconsult.StateReplaced, repl.ID
	apply(t, f.db, teleconsult.Change{Create: []*teleconsult.Teleconsultation{repl}, Update: []*teleconsult.Teleconsultation{old}})
	got, err := f.db.FindByAppointment(ctx, "appt-r")
	if err != nil || got.ID != repl.ID {
		t.Fatalf("FindByAppointment: got %v, %v; want %s", got, err, repl.ID)
	}
	if got := mustFind(t, f.db, old.ID); got.State != teleconsult.StateReplaced || got.ReplacedBy != repl.ID || got.Version != 2 {
		t.Errorf("old: got state %v, replacedBy %q, version %d; want replaced by %s, version 2", got.State, got.ReplacedBy, got.Version, repl.ID)
	}
}

func testFindByLinkHash(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := newParticipant(f.keys, "a", "Alice A", "a@example.org", teleconsult.RolePlus, "doctor")
	b := newParticipant(f.keys, "b", "Bob B", "b@example.org", teleconsult.RoleBasic, "patient")
	b.RemovedAt = base
	tc := newTC("", a, b)
	other := newTC("", newParticipant(f.keys, "c", "Carol C", "", teleconsult.RolePlus, "doctor"))
	create(t, f.db, tc, other)
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
		got, err := f.db.FindByLinkHash(ctx, tt.hash)
		if tt.want == "" {
			wantCode(t, err, teleconsult.ENOTFOUND)
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
			if d := diff(got, tc); d != "" {
				t.Errorf("%s:%s", tt.name, d)
			}
		}
	}
}

func testVersionConflict(t *testing.T, f *fixture) {
	ctx := context.Background()
	doc := newParticipant(f.keys, "doc", "Dr. Who Knows", "who@example.org", teleconsult.RolePlus, "doctor")
	tc := newTC("appt-v", doc)
	create(t, f.db, tc)
	mine, theirs := mustFind(t, f.db, tc.ID), mustFind(t, f.db, tc.ID)

	mine.ExpectedParticipants = 5
	apply(t, f.db, teleconsult.Change{Update: []*teleconsult.Teleconsultation{mine}})
	if mine.Version != 2 {
		t.Errorf("after update: got Version %d, want 2", mine.Version)
	}

	// A stale update fails, and so does everything else in its change.
	theirs.ExpectedParticipants = 9
	theirs.Participants[0].FullName = "Changed Name"
	extra := newTC("appt-other", newParticipant(f.keys, "x", "Xavier X", "", teleconsult.RolePlus, "doctor"))
	err := f.db.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{extra}, Update: []*teleconsult.Teleconsultation{theirs}})
	wantCode(t, err, teleconsult.ECONFLICT)
	if want := "teleconsultation " + tc.ID + " was changed concurrently; retry"; teleconsult.ErrorMessage(err) != want {
		t.Errorf("got message %q, want %q", teleconsult.ErrorMessage(err), want)
	}
	if strings.Contains(err.Error(), "Who Knows") || strings.Contains(err.Error(), "Changed Name") {
		t.Errorf("error holds patient data: %v", err)
	}
	if theirs.Version != 1 || extra.Version != 0 {
		t.Errorf("failed change touched the structs: versions %d, %d; want 1, 0", theirs.Version, extra.Version)
	}
	if _, err := f.db.FindByID(ctx, extra.ID); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("create of the failed change was written: %v", err)
	}
	if _, err := f.db.FindByLinkHash(ctx, extra.Participants[0].LinkHash); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("participant of the failed change was written: %v", err)
	}
	if got, _ := f.db.ProviderUsers(ctx, "sfu", []string{"x"}); len(got) != 0 {
		t.Errorf("user map of the failed change was written: %v", got)
	}
	if d := diff(mustFind(t, f.db, tc.ID), mine); d != "" {
		t.Errorf("stored:%s", d)
	}
}

func testUpdateUnknown(t *testing.T, f *fixture) {
	tc := newTC("")
	tc.Version = 1
	err := f.db.Apply(context.Background(), teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}})
	wantCode(t, err, teleconsult.ENOTFOUND)
}

func testRefuseDerivedState(t *testing.T, f *fixture) {
	for _, s := range []teleconsult.State{teleconsult.StateUnknown, teleconsult.StateOpen, teleconsult.StateExpired} {
		tc := newTC("")
		tc.State = s
		err := f.db.Apply(context.Background(), teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}})
		wantCode(t, err, teleconsult.EINTERNAL)
	}
	if n, _ := f.db.CountByState(context.Background()); len(n) != 0 {
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
		tcs[i] = newTC("appt-race", newParticipant(f.keys, "doc", "Dr. Race", "", teleconsult.RolePlus, "doctor"))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range tcs {
		wg.Go(func() {
			<-start
			errs[i] = f.db.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tcs[i]}})
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
	got, err := f.db.FindByAppointment(ctx, "appt-race")
	if err != nil || got.ID != tcs[winner].ID {
		t.Errorf("FindByAppointment: got %v, %v; want %s", got, err, tcs[winner].ID)
	}
	if c, _ := f.db.CountByState(ctx); c[teleconsult.StateWaiting] != 1 {
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
				tc := newTC("", newParticipant(f.keys, "doc", "Dr. Busy", "", teleconsult.RolePlus, "doctor"),
					newParticipant(f.keys, "pat", "Pat Busy", "", teleconsult.RoleBasic, "patient"))
				if err := f.db.Apply(ctx, teleconsult.Change{Create: []*teleconsult.Teleconsultation{tc}}); err != nil {
					errc <- err
					return
				}
				tc.State = teleconsult.StateScheduled
				if err := f.db.Apply(ctx, teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}}); err != nil {
					errc <- err
					return
				}
				if _, err := f.db.EnsureProviderUser(ctx, "sfu", "user-"+string(rune('a'+w))+string(rune('a'+i)), "p"); err != nil {
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
				if _, err := f.db.CountByState(ctx); err != nil {
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
	if c, _ := f.db.CountByState(ctx); c[teleconsult.StateScheduled] != writers*each {
		t.Errorf("got %v, want %d scheduled", c, writers*each)
	}
}

func testUserMap(t *testing.T, f *fixture) {
	ctx := context.Background()
	if got, err := f.db.EnsureProviderUser(ctx, "kaleyra", "u1", "cand-1"); err != nil || got != "cand-1" {
		t.Fatalf("EnsureProviderUser: got %q, %v; want cand-1", got, err)
	}
	if got, err := f.db.EnsureProviderUser(ctx, "kaleyra", "u1", "cand-2"); err != nil || got != "cand-1" {
		t.Fatalf("EnsureProviderUser again: got %q, %v; want cand-1 (first writer wins)", got, err)
	}
	u1 := newParticipant(f.keys, "u1", "User One", "", teleconsult.RolePlus, "doctor")
	u1.ProviderUserID = "mine" // loses to the map
	u2 := newParticipant(f.keys, "u2", "User Two", "", teleconsult.RoleBasic, "patient")
	u2.ProviderUserID = "p-2" // new: inserted
	u3 := newParticipant(f.keys, "u3", "User Three", "", teleconsult.RoleBasic, "patient")
	u3.ProviderUserID = "" // unmapped and no candidate: stays empty
	tc := newTC("", u1, u2, u3)
	tc.Provider = "kaleyra"
	create(t, f.db, tc)

	wantIDs := []string{"cand-1", "p-2", ""}
	for _, got := range []*teleconsult.Teleconsultation{tc, mustFind(t, f.db, tc.ID)} {
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
	v2 := newParticipant(f.keys, "u2", "User Two", "", teleconsult.RoleBasic, "patient")
	v2.ProviderUserID = "p-2-other"
	v1 := newParticipant(f.keys, "u1", "User One", "", teleconsult.RolePlus, "doctor")
	v1.ProviderUserID = ""
	later := newTC("", v2, v1)
	later.Provider = "kaleyra"
	elsewhere := newTC("", newParticipant(f.keys, "u1", "User One", "", teleconsult.RolePlus, "doctor"))
	elsewhere.Provider = "daily"
	create(t, f.db, later, elsewhere)
	if got := []string{later.Participants[0].ProviderUserID, later.Participants[1].ProviderUserID}; !slices.Equal(got, []string{"p-2", "cand-1"}) {
		t.Errorf("later: got %q, want [p-2 cand-1]", got)
	}
	if got := elsewhere.Participants[0].ProviderUserID; got != "prov-u1" {
		t.Errorf("other provider: got %q, want prov-u1", got)
	}
	if got, err := f.db.EnsureProviderUser(ctx, "kaleyra", "u2", "cand-x"); err != nil || got != "p-2" {
		t.Errorf("EnsureProviderUser(u2): got %q, %v; want p-2", got, err)
	}
}

func testProviderUsers(t *testing.T, f *fixture) {
	ctx := context.Background()
	for _, u := range []string{"a", "b", "c"} {
		if _, err := f.db.EnsureProviderUser(ctx, "kaleyra", u, "k-"+u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.db.EnsureProviderUser(ctx, "daily", "a", "d-a"); err != nil {
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
		got, err := f.db.ProviderUsers(ctx, tt.provider, tt.ids)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if d := diff(got, tt.want); d != "" {
			t.Errorf("%s:%s", tt.name, d)
		}
	}
}

func testCountByState(t *testing.T, f *fixture) {
	ctx := context.Background()
	got, err := f.db.CountByState(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty database: got %v, %v; want none", got, err)
	}
	states := []teleconsult.State{teleconsult.StateWaiting, teleconsult.StateWaiting, teleconsult.StateScheduled,
		teleconsult.StateInProgress, teleconsult.StateEnded, teleconsult.StateCancelled, teleconsult.StateReplaced, teleconsult.StateReplaced}
	for _, s := range states {
		tc := newTC("")
		tc.State = s
		create(t, f.db, tc)
	}
	got, err = f.db.CountByState(ctx)
	want := map[teleconsult.State]int{teleconsult.StateWaiting: 2, teleconsult.StateScheduled: 1, teleconsult.StateInProgress: 1,
		teleconsult.StateEnded: 1, teleconsult.StateCancelled: 1, teleconsult.StateReplaced: 2}
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(got, want); d != "" {
		t.Error(d)
	}
}

func testPing(t *testing.T, f *fixture) {
	if err := f.db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	f.db.Close()
	wantCode(t, f.db.Ping(context.Background()), teleconsult.EINTERNAL)
}

func testMigrateIdempotent(t *testing.T, f *fixture) {
	// f.db is migrated; a fresh database shows what the first run applies.
	ctx := context.Background()
	got, err := f.db.Migrate(ctx)
	if err != nil || len(got) != 0 {
		t.Errorf("second Migrate: got %v, %v; want nothing applied", got, err)
	}
	db2, err := Open(ctx, f.dsn, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if got, err := db2.Migrate(ctx); err != nil || len(got) != 0 {
		t.Errorf("Migrate from a new connection: got %v, %v; want nothing applied", got, err)
	}
}

func testParticipantsRewritten(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := newParticipant(f.keys, "a", "Alice Old", "alice@old.example", teleconsult.RolePlus, "doctor")
	b := newParticipant(f.keys, "b", "Bob", "bob@example.org", teleconsult.RoleBasic, "patient")
	c := newParticipant(f.keys, "c", "Carl", "", teleconsult.RoleBasic, "patient")
	tc := newTC("", a, b, c)
	create(t, f.db, tc)

	// Change a, remove b, drop c from the list entirely, add d.
	tc = mustFind(t, f.db, tc.ID)
	tc.Participants[0].FullName, tc.Participants[0].Email = "Alice New", ""
	tc.Participants[0].Groups = []string{"doctor", "admin"}
	tc.Participants[1].RemovedAt = base.Add(-time.Hour)
	d := newParticipant(f.keys, "d", "Dora", "dora@example.org", teleconsult.RoleBasic, "patient")
	tc.Participants = append(tc.Participants[:2], d)
	tc.UpdatedAt = base
	apply(t, f.db, teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}})

	got := mustFind(t, f.db, tc.ID)
	if d := diff(got, tc); d != "" {
		t.Errorf("FindByID:%s", d)
	}
	var order []string
	for _, p := range got.Participants {
		order = append(order, p.UserID)
	}
	if want := []string{"a", "b", "d"}; !slices.Equal(order, want) {
		t.Errorf("got order %q, want %q", order, want)
	}
	if _, err := f.db.FindByLinkHash(ctx, c.LinkHash); teleconsult.ErrorCode(err) != teleconsult.ENOTFOUND {
		t.Errorf("dropped participant's link: got %v, want ENOTFOUND", err)
	}
	if got, err := f.db.FindByLinkHash(ctx, b.LinkHash); err != nil || got.ID != tc.ID {
		t.Errorf("removed participant's link: got %v, %v", got, err)
	}
}

// Distinctive patient data for testPatientData.
var secrets = []string{"Zebulon Quaxwortle", "Philippa Yarncastle", "zebulon.q@qux-clinic.example", "PYarncastle@Mailhost.example"}

// testPatientData: no full name or email is stored in plaintext, neither in
// the SQLite file and its WAL nor in PostgreSQL (pg_dump).
func testPatientData(t *testing.T, f *fixture) {
	doc := newParticipant(f.keys, "doc-s", secrets[0], secrets[2], teleconsult.RolePlus, "doctor")
	pat := newParticipant(f.keys, "pat-s", secrets[1], secrets[3], teleconsult.RoleBasic, "patient")
	tc := newTC("appt-s", doc, pat)
	create(t, f.db, tc)
	tc.Participants[1].RemovedAt = base
	apply(t, f.db, teleconsult.Change{Update: []*teleconsult.Teleconsultation{tc}})
	if got := mustFind(t, f.db, tc.ID); got.Participants[1].FullName != secrets[1] || got.Participants[1].Email != secrets[3] {
		t.Fatalf("round trip lost the data: %+v", got.Participants[1])
	}

	check := func(what string, data []byte) {
		t.Helper()
		if len(data) == 0 {
			return
		}
		for _, s := range secrets {
			// pg_dump shows bytea in hex: look for that form too.
			if bytes.Contains(data, []byte(s)) || bytes.Contains(data, []byte(hex.EncodeToString([]byte(s)))) {
				t.Errorf("%s holds the plaintext %q", what, s)
			}
		}
	}
	if f.db.Dialect() == DialectSQLite {
		// Read the database file, its WAL and shared memory while the
		// database is open (the WAL holds the latest writes) and after
		// Close (checkpointed into the main file).
		read := func(when string) {
			var all []byte
			for _, name := range []string{f.dsn, f.dsn + "-wal", f.dsn + "-shm"} {
				data, err := os.ReadFile(name)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				check(when+" "+filepath.Base(name), data)
				all = append(all, data...)
			}
			// The search works: the (non-secret) user id is found.
			if !bytes.Contains(all, []byte("doc-s")) {
				t.Fatalf("%s: the files do not hold the stored user id: wrong files?", when)
			}
		}
		read("while open:")
		if err := f.db.Close(); err != nil {
			t.Fatal(err)
		}
		read("after close:")
		return
	}
	dump := pgtest.Dump(t, f.dsn)
	if !bytes.Contains(dump, []byte("doc-s")) {
		t.Fatalf("pg_dump output lacks the data it should hold:\n%s", dump)
	}
	check("pg_dump", dump)
}

// testWrongKey: a database written with one key cannot be read with another,
// and the error says so without showing data.
func testWrongKey(t *testing.T, f *fixture) {
	ctx := context.Background()
	p := newParticipant(f.keys, "p", secrets[0], secrets[2], teleconsult.RolePlus, "doctor")
	tc := newTC("appt-k", p)
	create(t, f.db, tc)

	other, err := Open(ctx, f.dsn, testKeys(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	finds := map[string]func() (*teleconsult.Teleconsultation, error){
		"FindByID":          func() (*teleconsult.Teleconsultation, error) { return other.FindByID(ctx, tc.ID) },
		"FindByAppointment": func() (*teleconsult.Teleconsultation, error) { return other.FindByAppointment(ctx, "appt-k") },
		"FindByLinkHash":    func() (*teleconsult.Teleconsultation, error) { return other.FindByLinkHash(ctx, p.LinkHash) },
	}
	for name, find := range finds {
		got, err := find()
		if got != nil {
			t.Errorf("%s: got a teleconsultation with the wrong key", name)
		}
		wantCode(t, err, teleconsult.EINTERNAL)
		if !strings.Contains(err.Error(), "ENCRYPTION_KEY") {
			t.Errorf("%s: error %q does not mention the ENCRYPTION_KEY", name, err)
		}
		if !errors.Is(err, teleconsult.ErrDecrypt) {
			t.Errorf("%s: error %v does not wrap ErrDecrypt", name, err)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error holds patient data: %v", name, err)
			}
		}
	}
}

// testKnownUser: a user is known while an active participant of a live
// teleconsultation; removal, cancellation and replacement end it.
func testKnownUser(t *testing.T, f *fixture) {
	ctx := context.Background()
	known := func(user string) bool {
		t.Helper()
		ok, err := f.db.KnownUser(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	a := newTC("appt-a", newParticipant(f.keys, "doc", "D", "", teleconsult.RolePlus, "doctor"),
		newParticipant(f.keys, "pat", "P", "", teleconsult.RoleBasic, "patient"))
	b := newTC("appt-b", newParticipant(f.keys, "doc", "D", "", teleconsult.RolePlus, "doctor"))
	create(t, f.db, a, b)
	if !known("doc") || !known("pat") || known("stranger") || known("") {
		t.Fatal("after create")
	}
	a = mustFind(t, f.db, a.ID)
	a.Participants[1].RemovedAt = base
	apply(t, f.db, teleconsult.Change{Update: []*teleconsult.Teleconsultation{a}})
	if known("pat") {
		t.Error("a removed participant is still known")
	}
	a = mustFind(t, f.db, a.ID)
	a.State = teleconsult.StateCancelled
	apply(t, f.db, teleconsult.Change{Update: []*teleconsult.Teleconsultation{a}})
	if !known("doc") {
		t.Error("doc is in b still")
	}
	b = mustFind(t, f.db, b.ID)
	b.State = teleconsult.StateReplaced
	apply(t, f.db, teleconsult.Change{Update: []*teleconsult.Teleconsultation{b}})
	if known("doc") {
		t.Error("a user of cancelled and replaced visits only is still known")
	}
}

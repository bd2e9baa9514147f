// Package storetest is the contract of a [teleconsult.Store]: a suite of
// tests that every store runs (the SQL store on SQLite and PostgreSQL, the
// in-memory store), so that they keep the same semantics.
//
// It is imported by tests only, and imports the domain only.
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Stores is a fresh, empty store under test, with its optional parts.
type Stores struct {
	// Store is the store under test.
	Store teleconsult.Store
	// Events is the store's provider event store, or nil to skip its
	// tests.
	Events teleconsult.ProviderEvents
	// Uploads is the store's upload records, or nil to skip their tests.
	Uploads teleconsult.UploadStore
	// Backgrounds is the store's company backgrounds, or nil to skip their
	// tests.
	Backgrounds teleconsult.BackgroundStore
	// RecoverReleases says whether RecoverOutbox releases every claim left
	// (a store that one process owns: SQLite, memory) or none (claims
	// expire with their lease: PostgreSQL).
	RecoverReleases bool
	// Tamper, when set, changes the stored audit trail behind the store's
	// back: op "edit" alters entry id, "delete" removes it.
	Tamper func(t *testing.T, op string, id int64)
}

// fixture is one test's store and the keys its links are made with.
type fixture struct {
	Stores
	s    teleconsult.Store
	keys *teleconsult.Keyring
}

// Run runs the whole contract, each test on a new store from open.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	var tests []test
	tests = append(tests, storeTests...)
	tests = append(tests, outboxTests...)
	tests = append(tests, webhookTests...)
	tests = append(tests, auditTests...)
	tests = append(tests, test{"ProviderEvents", testEvents}, test{"Uploads", testUploads}, test{"Backgrounds", testBackgrounds})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			f := &fixture{Stores: st, s: st.Store, keys: Keys(t, 1)}
			if tt.name == "ProviderEvents" && st.Events == nil || tt.name == "Uploads" && st.Uploads == nil ||
				tt.name == "Backgrounds" && st.Backgrounds == nil {
				t.Skip("not implemented by this store")
			}
			tt.run(t, f)
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, f *fixture)
}

// Keys returns a keyring from a master key filled with seed.
func Keys(tb testing.TB, seed byte) *teleconsult.Keyring {
	tb.Helper()
	master := make([]byte, teleconsult.KeySize)
	for i := range master {
		master[i] = seed
	}
	k, err := teleconsult.NewKeyring(master)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Rome is a non-UTC zone: stored times must come back as the same instant,
// in UTC.
var Rome = func() *time.Location {
	l, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// Base is a fixed instant with millisecond precision, like the API's dates.
var Base = time.Date(2031, 3, 14, 9, 30, 0, 123_000_000, time.UTC)

// NewParticipant returns a participant with a fresh link made with keys.
func NewParticipant(keys *teleconsult.Keyring, userID, fullName, email string, role teleconsult.Role, groups ...string) teleconsult.Participant {
	nonce := teleconsult.NewLinkNonce()
	return teleconsult.Participant{
		UserID: userID, Groups: groups, FullName: fullName, Email: email, Language: "it",
		TimeZone: "Europe/Rome", Role: role, ProviderUserID: "prov-" + userID,
		LinkNonce: nonce, LinkHash: teleconsult.LinkHash(keys.LinkCode(nonce)),
	}
}

// NewTC returns a waiting teleconsultation with a fresh id, starting at
// [Base].
func NewTC(appointmentID string, parts ...teleconsult.Participant) *teleconsult.Teleconsultation {
	return &teleconsult.Teleconsultation{
		ID: teleconsult.NewID(), AppointmentID: appointmentID,
		StartDate: Base, EndDate: Base.Add(30 * time.Minute), ExpectedParticipants: max(2, len(parts)),
		Participants: parts, Provider: "sfu", State: teleconsult.StateWaiting,
		CreatedAt: Base.Add(-24 * time.Hour), UpdatedAt: Base.Add(-24 * time.Hour),
	}
}

// Message returns a pending outbox message due at [Base].
func Message(tcID, userID string, kind teleconsult.InvitationKind, seq int) teleconsult.OutboxMessage {
	return teleconsult.OutboxMessage{
		TeleconsultationID: tcID, UserID: userID, Kind: kind, Sequence: seq,
		StartDate: Base.Add(time.Hour), EndDate: Base.Add(90 * time.Minute), CreatedAt: Base,
		Status: teleconsult.DeliveryPending, NextAttemptAt: Base, UpdatedAt: Base,
	}
}

// Apply applies a change and fails the test on error.
func Apply(tb testing.TB, s teleconsult.Store, ch teleconsult.Change) {
	tb.Helper()
	if err := s.Apply(context.Background(), ch); err != nil {
		tb.Fatalf("Apply: %v", err)
	}
}

// Create stores new teleconsultations and fails the test on error.
func Create(tb testing.TB, s teleconsult.Store, tcs ...*teleconsult.Teleconsultation) {
	tb.Helper()
	Apply(tb, s, teleconsult.Change{Create: tcs})
}

// MustFind returns the teleconsultation with id and fails the test if
// there is none.
func MustFind(tb testing.TB, s teleconsult.Store, id string) *teleconsult.Teleconsultation {
	tb.Helper()
	tc, err := s.FindByID(context.Background(), id)
	if err != nil {
		tb.Fatalf("FindByID(%s): %v", id, err)
	}
	return tc
}

// Diff returns "" if got and want are deeply equal, else both, one field a
// line.
func Diff(got, want any) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	return fmt.Sprintf("\n got: %+v\nwant: %+v", got, want)
}

// WantCode checks an error's application error code.
func WantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := teleconsult.ErrorCode(err); got != code {
		tb.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

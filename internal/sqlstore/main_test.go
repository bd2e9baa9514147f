package sqlstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/teleconsult/teleconsult/internal/pgtest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend makes a DSN of a new, empty database.
type backend struct {
	name string
	dsn  func(tb testing.TB) string
}

var backends = []backend{
	{"sqlite", func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "teleconsult.db") }},
	{"postgres", pgtest.URL},
}

// testKeys returns a keyring from a master key filled with seed.
func testKeys(tb testing.TB, seed byte) *teleconsult.Keyring {
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

// openDB opens and migrates the database at dsn; it is closed when the test
// ends.
func openDB(tb testing.TB, dsn string, keys *teleconsult.Keyring) *DB {
	tb.Helper()
	ctx := context.Background()
	db, err := Open(ctx, dsn, keys)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return db
}

// rome is a non-UTC zone: stored times must come back as the same instant,
// in UTC.
var rome = func() *time.Location {
	l, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// base is a fixed instant with millisecond precision, like the API's dates.
var base = time.Date(2031, 3, 14, 9, 30, 0, 123_000_000, time.UTC)

// newParticipant returns a participant with a fresh link.
func newParticipant(keys *teleconsult.Keyring, userID, fullName, email string, role teleconsult.Role, groups ...string) teleconsult.Participant {
	nonce := teleconsult.NewLinkNonce()
	return teleconsult.Participant{
		UserID: userID, Groups: groups, FullName: fullName, Email: email, Language: "it",
		TimeZone: "Europe/Rome", Role: role, ProviderUserID: "prov-" + userID,
		LinkNonce: nonce, LinkHash: teleconsult.LinkHash(keys.LinkCode(nonce)),
	}
}

// newTC returns a waiting teleconsultation with a fresh id.
func newTC(appointmentID string, parts ...teleconsult.Participant) *teleconsult.Teleconsultation {
	return &teleconsult.Teleconsultation{
		ID: teleconsult.NewID(), AppointmentID: appointmentID,
		StartDate: base, EndDate: base.Add(30 * time.Minute), ExpectedParticipants: max(2, len(parts)),
		Participants: parts, Provider: "sfu", State: teleconsult.StateWaiting,
		CreatedAt: base.Add(-24 * time.Hour), UpdatedAt: base.Add(-24 * time.Hour),
	}
}

// apply applies a change and fails the test on error.
func apply(tb testing.TB, db *DB, ch teleconsult.Change) {
	tb.Helper()
	if err := db.Apply(context.Background(), ch); err != nil {
		tb.Fatalf("Apply: %v", err)
	}
}

func create(tb testing.TB, db *DB, tcs ...*teleconsult.Teleconsultation) {
	tb.Helper()
	apply(tb, db, teleconsult.Change{Create: tcs})
}

func mustFind(tb testing.TB, db *DB, id string) *teleconsult.Teleconsultation {
	tb.Helper()
	tc, err := db.FindByID(context.Background(), id)
	if err != nil {
		tb.Fatalf("FindByID(%s): %v", id, err)
	}
	return tc
}

// diff returns "" if got and want are deeply equal, else both, one field a
// line.
func diff(got, want any) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	return fmt.Sprintf("\n got: %+v\nwant: %+v", got, want)
}

// wantCode checks an error's application error code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := teleconsult.ErrorCode(err); got != code {
		tb.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

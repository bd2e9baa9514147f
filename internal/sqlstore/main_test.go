package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/teleconsult/teleconsult/internal/pgtest"
	"github.com/teleconsult/teleconsult/internal/storetest"
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

// The contract suite's helpers, under this package's older names.
var (
	testKeys       = storetest.Keys
	base           = storetest.Base
	newParticipant = storetest.NewParticipant
	newTC          = storetest.NewTC
	message        = storetest.Message
	diff           = storetest.Diff
	wantCode       = storetest.WantCode
)

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

// apply applies a change and fails the test on error.
func apply(tb testing.TB, db *DB, ch teleconsult.Change) { tb.Helper(); storetest.Apply(tb, db, ch) }

func create(tb testing.TB, db *DB, tcs ...*teleconsult.Teleconsultation) {
	tb.Helper()
	storetest.Create(tb, db, tcs...)
}

func mustFind(tb testing.TB, db *DB, id string) *teleconsult.Teleconsultation {
	tb.Helper()
	return storetest.MustFind(tb, db, id)
}

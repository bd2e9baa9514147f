package sqlstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teleconsult/teleconsult/internal/pgtest"
	"github.com/teleconsult/teleconsult/internal/storetest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// fixture is one test's database.
type fixture struct {
	dsn  string
	keys *teleconsult.Keyring
	db   *DB // opened and migrated
}

// TestStore runs the store contract (internal/storetest) and the SQL
// store's own tests against SQLite and PostgreSQL.
func TestStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) storetest.Stores {
				db := openDB(t, b.dsn(t), testKeys(t, 1))
				return storetest.Stores{Store: db, Events: db, Uploads: db, Backgrounds: db, RecoverReleases: db.Dialect() == DialectSQLite,
					Tamper: func(t *testing.T, op string, id int64) { tamperAudit(t, db, op, id) }}
			})
			testStore(t, b.dsn)
		})
	}
}

// testStore runs the SQL-only tests, each on a fresh database from newDSN.
func testStore(t *testing.T, newDSN func(testing.TB) string) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"PingClosed", testPing},
		{"MigrateIdempotent", testMigrateIdempotent},
		{"PatientDataEncryptedAtRest", testPatientData},
		{"WrongKey", testWrongKey},
		{"UploadNameEncrypted", testUploadName},
		{"ProviderLinkEncrypted", testProviderLink},
		{"OutboxFlagsStored", testOutboxFlags},
		{"OutboxReason", testOutboxReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := newDSN(t)
			keys := testKeys(t, 1)
			tt.run(t, &fixture{dsn: dsn, keys: keys, db: openDB(t, dsn, keys)})
		})
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

// tamperAudit edits or deletes an audit entry by hand, as someone with
// access to the database could: for an edit, the append-only trigger is
// dropped first.
func tamperAudit(t *testing.T, db *DB, op string, id int64) {
	t.Helper()
	ctx := context.Background()
	var stmts []string
	switch op {
	case "edit":
		drop := "DROP TRIGGER IF EXISTS audit_log_append_only"
		if db.Dialect() == DialectPostgres {
			drop += " ON audit_log"
		}
		stmts = []string{drop, "UPDATE audit_log SET outcome = 'tampered' WHERE id = $1"}
	case "delete":
		stmts = []string{"DELETE FROM audit_log WHERE id = $1"}
	default:
		t.Fatalf("tamperAudit: unknown op %q", op)
	}
	for _, q := range stmts {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, id)
		}
		if _, err := db.w.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("tamperAudit %s: %v", q, err)
		}
	}
}

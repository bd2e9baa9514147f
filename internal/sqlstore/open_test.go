package sqlstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOpenDialect(t *testing.T) {
	ctx := context.Background()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			db, err := Open(ctx, be.dsn(t), testKeys(t, 1))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := db.Dialect(); got != be.name {
				t.Errorf("got dialect %q, want %q", got, be.name)
			}
			got, err := db.Migrate(ctx)
			if err != nil || !slices.Equal(got, []int64{1, 2}) {
				t.Errorf("first Migrate: got %v, %v; want [1 2]", got, err)
			}
		})
	}
}

func TestOpenSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teleconsult.db")
	db := openDB(t, path, testKeys(t, 1))
	create(t, db, newTC(""))
	for _, name := range []string{path, path + "-wal"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: got mode %v, want 0600", filepath.Base(name), got)
		}
	}
	var mode string
	if err := db.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode: got %q, %v; want wal", mode, err)
	}
}

// TestOpenErrors: Open fails with a message naming the problem and never
// the password.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not-a-database")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not SQLite ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "S3cret-Pa55"
	tests := []struct {
		name string
		dsn  string
		want []string // in the message
	}{
		{"postgres refused", "postgres://alice:" + pw + "@127.0.0.1:1/teleconsult?sslmode=disable&connect_timeout=2",
			[]string{"cannot connect to PostgreSQL", "alice:xxxxx@127.0.0.1:1"}},
		{"password in query", "postgresql://alice@127.0.0.1:1/teleconsult?sslmode=disable&password=" + pw,
			[]string{"cannot connect to PostgreSQL", "password=xxxxx"}},
		{"unparsable URL", "postgres://alice:" + pw + "@[::1/x", []string{"PostgreSQL"}},
		{"bad option", "postgres://alice:" + pw + "@127.0.0.1:1/x?sslmode=bogus", []string{"PostgreSQL"}},
		{"missing directory", filepath.Join(dir, "missing", "teleconsult.db"), []string{"cannot open SQLite database", "no such file or directory"}},
		{"not a database", notDB, []string{"cannot open SQLite database", notDB}},
		{"empty", "", []string{"empty database path"}},
		{"memory", ":memory:", []string{"file path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(ctx, tt.dsn, testKeys(t, 1))
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			for e := err; e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), pw) {
					t.Errorf("error (or its cause) shows the password: %s", e)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
	if _, err := Open(ctx, filepath.Join(dir, "x.db"), nil); err == nil {
		t.Error("Open without keys succeeded")
	}
}

// TestMigrationsInStep: both dialects have the same migration versions.
func TestMigrationsInStep(t *testing.T) {
	list := func(dialect string) []string {
		t.Helper()
		names, err := fs.Glob(migrations, "migrations/"+dialect+"/*.sql")
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: got %v, %v", dialect, names, err)
		}
		for i, n := range names {
			names[i] = filepath.Base(n)
		}
		return names
	}
	if s, p := list(DialectSQLite), list(DialectPostgres); !slices.Equal(s, p) {
		t.Errorf("sqlite migrations %v, postgres migrations %v: keep them in step", s, p)
	}
}

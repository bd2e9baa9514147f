package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestURLGivesFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := URL(t), URL(t)
	if a == b {
		t.Fatalf("URL returned the same database twice: %s", a)
	}
	for _, dsn := range []string{a, b} {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var tables int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if tables != 0 {
			t.Errorf("%s: got %d tables in a new database, want 0", dsn, tables)
		}
	}
}

func TestDump(t *testing.T) {
	ctx := context.Background()
	dsn := URL(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('dump-me-7f3a')"); err != nil {
		t.Fatal(err)
	}
	out := Dump(t, dsn)
	for _, want := range []string{"CREATE TABLE public.marker", "dump-me-7f3a"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("pg_dump output lacks %q:\n%s", want, out)
		}
	}
}

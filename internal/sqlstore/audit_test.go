package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/teleconsult/teleconsult/internal/storetest"
	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// Ensure the SQLite writer is back to synchronous=FULL after an audit
// commit (which runs with NORMAL), so that changes still wait for the
// disk, and that entries appended just before Close are there on reopen,
// still verifying.
func TestAuditSyncLevel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "teleconsult.db")
	keys := testKeys(t, 1)
	ctx := context.Background()
	db, err := Open(ctx, path, keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e := storetest.AuditEntry("tc-1", teleconsult.AuditView, base)
		if err := db.AppendAudit(ctx, []teleconsult.AuditEntry{e}); err != nil {
			t.Fatal(i, err)
		}
		var level int
		if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
			t.Fatal(err)
		}
		if level != 2 { // FULL
			t.Fatalf("after an audit commit the writer's synchronous is %d, want 2 (FULL)", level)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, path, keys)
	v, err := db.VerifyAudit(ctx)
	if err != nil || v.Break != nil || v.Entries != 3 {
		t.Fatalf("after reopening: %+v, %v", v, err)
	}
}

package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"
)

// auditVerify runs `teleconsult audit verify` on env and returns its exit
// status and output.
func auditVerify(t *testing.T, env map[string]string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"audit", "verify"}, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String() + errb.String()
}

// Ensure `audit verify` checks the chain the service wrote, reports an
// entry deleted by hand with its id, and that pruning by AUDIT_RETENTION
// keeps the rest verifiable; on both databases.
func TestAuditVerifyCommand(t *testing.T) {
	databases(t, func(t *testing.T, env map[string]string) {
		env["DATA_DIR"] = t.TempDir()
		env["AUDIT_RETENTION"] = "1h"
		s := startServer(t, env)
		env["API_KEYS"] = s.Key
		var created struct {
			RoomID string `json:"roomId"`
		}
		start := s.Clock.Now().Add(2 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
		in := map[string]any{"start_date": start, "duration_in_seconds": 1800, "participants": map[string]any{"number": 2, "data": []map[string]any{
			{"userId": "doc-1", "groups": []string{"doctor"}, "fullName": "Dr Audit"},
			{"userId": "pat-1", "groups": []string{"patient"}, "fullName": "Pat Audit"}}}}
		if code := s.do(t, "POST", api+"/teleconsultation", "", in, &created); code != http.StatusCreated {
			t.Fatalf("create: %d", code)
		}
		for range 3 {
			if code := s.do(t, "GET", api+"/teleconsultation/"+created.RoomID, "doc-1", nil, nil); code != http.StatusOK {
				t.Fatalf("GET: %d", code)
			}
		}
		if code, out := auditVerify(t, env); code != 0 || !strings.Contains(out, "audit trail verified: 4 entries (1 to 4)") || !strings.Contains(out, "head: entry 4, hash ") {
			t.Fatalf("verify = %d:\n%s", code, out)
		}

		// Pruning: the four entries are over an hour old.
		s.Clock.Add(2 * time.Hour)
		if n, err := s.Main.Service.PruneAudit(context.Background(), s.Main.Config.AuditRetention); err != nil || n != 4 {
			t.Fatalf("PruneAudit = %d, %v", n, err)
		}
		if code := s.do(t, "GET", api+"/teleconsultation/"+created.RoomID, "doc-1", nil, nil); code != http.StatusOK {
			t.Fatalf("GET: %d", code)
		}
		if code, out := auditVerify(t, env); code != 0 || !strings.Contains(out, "2 entries (5 to 6), pruned through entry 4") {
			t.Fatalf("verify after pruning = %d:\n%s", code, out)
		}

		// Entry 5 (the pruning's record) deleted by hand.
		// Beside the running service, which may be writing: wait for its lock.
		driver, dsn := "sqlite", "file:"+s.Main.Config.SQLitePath+"?_pragma=busy_timeout(5000)"
		if u := env["DATABASE_URL"]; u != "" {
			driver, dsn = "pgx", u
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("DELETE FROM audit_log WHERE id = 5"); err != nil {
			t.Fatal(err)
		}
		if code, out := auditVerify(t, env); code != 1 || !strings.Contains(out, "audit trail BROKEN at entry 5: entry 5 is missing (deleted)") {
			t.Fatalf("verify after a deletion = %d:\n%s", code, out)
		}
	})
}

package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The audit trail's command (teleconsult audit verify), its retention
// setting and the pruning worker.

// Limits of AUDIT_RETENTION (other than 0, keep everything).
const (
	minAuditRetention = time.Hour
	maxAuditRetention = 100 * 365 * 24 * time.Hour
)

// auditPruneEvery is how often the service prunes the audit trail.
const auditPruneEvery = time.Hour

// parseRetention reads AUDIT_RETENTION: 0, a number of days ("2190d"), or
// a Go duration ("720h").
func parseRetention(v string) (time.Duration, error) {
	if v == "0" {
		return 0, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if err == nil && (n < 0 || n > int(maxAuditRetention/(24*time.Hour))) {
			err = fmt.Errorf("out of range")
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < minAuditRetention || d > maxAuditRetention {
		return 0, fmt.Errorf("expected 0 (keep every entry), a number of days such as 2190d, or a Go duration such as 720h, from 1h to 100 years")
	}
	return d, nil
}

// auditVariables are the audit trail's variables.
func auditVariables() []variable {
	return []variable{{
		VarDoc: VarDoc{Name: "AUDIT_RETENTION", Default: "0",
			Description: "How long audit trail entries are kept: `0` keeps them all; a number of days (`2190d`, six years, as HIPAA keeps its documentation) or a Go duration from 1h. Older entries are deleted every hour; the chain stays verifiable from the last deleted entry (its sealed anchor), and each pruning is itself an entry (`audit.prune`)."},
		value: "0",
		parse: func(c *Config, v string) (err error) {
			c.AuditRetention, err = parseRetention(v)
			return err
		},
		show: func(c *Config) shown {
			if c.AuditRetention == 0 {
				return shown{value: "0", note: "every entry is kept"}
			}
			if c.AuditRetention%(24*time.Hour) == 0 {
				return shown{value: strconv.FormatInt(int64(c.AuditRetention/(24*time.Hour)), 10) + "d"}
			}
			return shown{value: c.AuditRetention.String()}
		},
	}}
}

// runAuditPruning prunes the audit trail now and every auditPruneEvery
// until ctx is done, when AUDIT_RETENTION is set; it returns a function
// that waits for it to stop.
func (m *Main) runAuditPruning(ctx context.Context) (wait func()) {
	retention := m.Config.AuditRetention
	if retention <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(auditPruneEvery)
		defer t.Stop()
		for {
			if _, err := m.Service.PruneAudit(ctx, retention); err != nil && ctx.Err() == nil {
				m.Logger.Error("audit: pruning", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { <-done }
}

const auditHelp = `Usage: teleconsult audit verify

Checks the audit trail's chain in the database of DATABASE_URL (SQLite under
DATA_DIR when unset), with the key derived from ENCRYPTION_KEY: every entry's
keyed hash, from the pruning anchor to the head. Prints how many entries
verified and the head (keep it: a later run whose head is older means the
newest entries were removed with the head). Exits 0 when the chain verifies,
1 with the first entry that does not (edited, deleted, out of order) or on
an error, 2 on a usage or configuration error.
`

func cmdAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "-h" && args[0] != "--help" && args[0] != "-help") {
		fmt.Fprint(stderr, auditHelp)
		return 2
	}
	if args[0] == "verify" {
		args = args[1:]
	}
	if ok, code := parseFlags("audit verify", auditHelp, args, stdout, stderr, nil); !ok {
		return code
	}
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	log := newLogger(cfg, stderr)
	keys, err := loadKeyring(cfg, log)
	if err != nil {
		log.Error("encryption key", "err", err)
		return 1
	}
	db, _, err := openStore(ctx, cfg, keys)
	if err != nil {
		log.Error("database", "err", err)
		return 1
	}
	defer func() { _ = db.Close() }() // read only
	v, err := db.VerifyAudit(ctx)
	if err != nil {
		log.Error("audit verify", "err", err)
		return 1
	}
	return printVerification(stdout, v)
}

// printVerification prints the result of a verification and returns the
// exit status: 0 when the chain verifies, 1 otherwise.
func printVerification(w io.Writer, v *teleconsult.AuditVerification) int {
	span := func() string {
		if v.Entries == 0 {
			return "0 entries"
		}
		return fmt.Sprintf("%d entries (%d to %d)", v.Entries, v.First, v.Last)
	}
	pruned := ""
	if v.Anchor > 0 {
		pruned = fmt.Sprintf(", pruned through entry %d", v.Anchor)
	}
	if v.Break != nil {
		fmt.Fprintf(w, "audit trail BROKEN at entry %d: %s\n", v.Break.ID, v.Break.Reason)
		fmt.Fprintf(w, "verified before the break: %s%s\n", span(), pruned)
		return 1
	}
	fmt.Fprintf(w, "audit trail verified: %s%s\n", span(), pruned)
	fmt.Fprintf(w, "head: entry %d, hash %s\n", v.Head.ID, hex.EncodeToString(v.Head.Hash))
	return 0
}

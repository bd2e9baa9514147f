package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The audit trail (migration 00009): entries appended by Apply in the
// transaction of the change they record, and by AppendAudit for reads.
// Every append reads the chain's head from audit_chain and writes the new
// one in the same transaction; on PostgreSQL it locks that row first
// (SELECT … FOR UPDATE), so that appends from every replica are serialized
// and the chain never forks. On SQLite the single writer connection
// serializes them already.
//
// AppendAudit commits in groups: a read's entry waits for the commit of
// the batch it joined, so that under load many reads share one commit
// instead of queueing for one each; see [DB.commitAudit] for when that
// commit reaches the disk.

const auditColumns = `id, at, actor_kind, key_id, user_id, participant_id, request_id, client_addr,
	teleconsultation_id, action, object, outcome, hash`

const nAuditColumns = 13

// auditGroupMax bounds the requests of one group commit.
const auditGroupMax = 512

// auditArgs returns the values of auditColumns for e.
func (db *DB) auditArgs(e *teleconsult.AuditEntry) []any {
	return []any{e.ID, db.timeArg(e.Time, false), string(e.Kind), e.KeyID, e.UserID, e.ParticipantID,
		e.RequestID, e.ClientAddr, e.TeleconsultationID, string(e.Action), e.Object, e.Outcome, e.Hash}
}

// auditStmts are the statements of an append, prepared once on the writer
// pool (parsing them cost more than running them) and used in write
// transactions with [sql.Tx.StmtContext].
type auditStmts struct {
	head, insert, update *sql.Stmt
}

// auditPrepared returns the append statements, preparing them on first
// use. It must be called outside a write transaction: on SQLite the
// transaction holds the writer pool's only connection.
func (db *DB) auditPrepared(ctx context.Context) (*auditStmts, error) {
	db.auditStmtsMu.Lock()
	defer db.auditStmtsMu.Unlock()
	if db.auditStmts != nil {
		return db.auditStmts, nil
	}
	head := "SELECT head_id, head_hash FROM audit_chain WHERE one = 1"
	if db.dialect == DialectPostgres {
		head += " FOR UPDATE" // serializes the appends of every replica
	}
	var b strings.Builder
	b.WriteString("INSERT INTO audit_log (" + auditColumns + ") VALUES ")
	placeholders(&b, 0, nAuditColumns)
	var st auditStmts
	for _, p := range []struct {
		q  string
		st **sql.Stmt
	}{{head, &st.head}, {b.String(), &st.insert}, {"UPDATE audit_chain SET head_id = $1, head_hash = $2 WHERE one = 1", &st.update}} {
		var err error
		if *p.st, err = db.w.PrepareContext(ctx, p.q); err != nil {
			st.close()
			return nil, dbErr("prepare audit", err)
		}
	}
	db.auditStmts = &st
	return &st, nil
}

func (st *auditStmts) close() {
	for _, s := range []*sql.Stmt{st.head, st.insert, st.update} {
		if s != nil {
			_ = s.Close() // closing the database closes them too
		}
	}
}

// auditHead reads the chain's head in tx, locking it on PostgreSQL.
func auditHead(ctx context.Context, tx *sql.Tx, st *auditStmts) (teleconsult.AuditHead, error) {
	var h teleconsult.AuditHead
	err := tx.StmtContext(ctx, st.head).QueryRowContext(ctx).Scan(&h.ID, &h.Hash)
	return h, err
}

// appendAudit chains entries after the head and writes them and the new
// head in tx. It sets the entries' ID and Hash (the caller undoes nothing
// on rollback: a failed transaction's entries are not used).
func (db *DB) appendAudit(ctx context.Context, tx *sql.Tx, st *auditStmts, entries []teleconsult.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	head, err := auditHead(ctx, tx, st)
	if err != nil {
		return err
	}
	for i := range entries {
		entries[i].Time = normTime(entries[i].Time)
	}
	head = db.keys.AuditChain().Extend(head, entries)
	ins := tx.StmtContext(ctx, st.insert)
	for i := range entries {
		if _, err := ins.ExecContext(ctx, db.auditArgs(&entries[i])...); err != nil {
			return err
		}
	}
	_, err = tx.StmtContext(ctx, st.update).ExecContext(ctx, head.ID, head.Hash)
	return err
}

// auditQueue is the group commit of AppendAudit.
type auditQueue struct {
	mu      sync.Mutex
	pending []*auditReq
	// busy is true while a leader commits; the next leader is handed the
	// role through its done channel.
	busy bool
	// commits counts group commits (the benchmarks report entries per
	// commit).
	commits atomic.Int64
}

type auditReq struct {
	entries []teleconsult.AuditEntry
	done    chan error
}

// errLead tells a waiting request that it leads the next group commit.
var errLead = errors.New("sqlstore: lead the next audit commit")

// AppendAudit implements [teleconsult.AuditStore.AppendAudit]. Concurrent
// calls share transactions: the first caller commits what has queued up
// meanwhile, and hands over to a waiting one for what queues during its
// commit. Each returns once its own entries are durable (or have failed
// with the group's error).
func (db *DB) AppendAudit(ctx context.Context, entries []teleconsult.AuditEntry) error {
	defer db.observe(opAppendAudit, time.Now())
	if err := teleconsult.CheckAuditEntries(entries); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	req := &auditReq{entries: entries, done: make(chan error, 1)}
	q := &db.auditQ
	q.mu.Lock()
	q.pending = append(q.pending, req)
	if q.busy {
		q.mu.Unlock()
		if err := <-req.done; !errors.Is(err, errLead) {
			return err
		}
		q.mu.Lock()
	}
	q.busy = true
	// Let the requests already on their way join this group: on a busy
	// server that halves the commits.
	q.mu.Unlock()
	runtime.Gosched()
	q.mu.Lock()
	n := min(len(q.pending), auditGroupMax)
	group := q.pending[:n:n]
	q.pending = q.pending[n:]
	q.mu.Unlock()

	var all []teleconsult.AuditEntry
	if len(group) == 1 {
		all = req.entries
	} else {
		for _, r := range group {
			all = append(all, r.entries...)
		}
	}
	// The group's commit must not fail because this caller went away.
	err := db.commitAudit(context.WithoutCancel(ctx), all)
	q.commits.Add(1)
	if len(group) > 1 {
		k := 0
		for _, r := range group {
			copy(r.entries, all[k:k+len(r.entries)])
			k += len(r.entries)
		}
	}
	for _, r := range group {
		if r != req {
			r.done <- err
		}
	}
	q.mu.Lock()
	if len(q.pending) > 0 {
		q.pending[0].done <- errLead
	} else {
		q.busy = false
	}
	q.mu.Unlock()
	return err
}

// auditSyncDelay bounds how long the entries of AppendAudit may stay
// unsynced on SQLite (see [DB.commitAudit]).
const auditSyncDelay = 100 * time.Millisecond

// commitAudit appends entries of their own (reads, refusals) in one
// transaction. That commit does not wait for the disk: on SQLite it runs
// with synchronous=NORMAL (the WAL is written, not synced) and a sync
// follows within auditSyncDelay, unless a change's commit (synchronous=FULL,
// which syncs the whole WAL) comes first; on PostgreSQL it runs with
// synchronous_commit off, and the WAL writer flushes it within
// wal_writer_delay (200 ms by default). The entries survive a crash of the
// process at once and a crash of the machine after that delay; a change's
// own entries are as durable as the change, in its transaction. Waiting
// for a sync per read cut GET to a fraction of its throughput
// (BENCHMARKS.md).
func (db *DB) commitAudit(ctx context.Context, entries []teleconsult.AuditEntry) error {
	st, err := db.auditPrepared(ctx)
	if err != nil {
		return err
	}
	if db.dialect == DialectPostgres {
		return db.inWriteTx(ctx, "append audit", func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
			return db.appendAudit(ctx, tx, st, entries)
		})
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return dbErr("append audit", err)
	}
	defer func() { _ = conn.Close() }() // back to the pool (or discarded, below)
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return dbErr("append audit", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = FULL"); err != nil {
			// A writer that would not sync must not serve changes:
			// discard it; the pool opens a new one with the DSN's FULL.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("append audit", err)
	}
	if err := db.appendAudit(ctx, tx, st, entries); err != nil {
		_ = tx.Rollback()
		return txErr("append audit", err)
	}
	if err := tx.Commit(); err != nil {
		return txErr("append audit", err)
	}
	db.scheduleAuditSync()
	return nil
}

// auditSyncer syncs SQLite's WAL after unsynced audit commits.
type auditSyncer struct {
	mu     sync.Mutex
	timer  *time.Timer
	closed bool
}

// scheduleAuditSync makes sure a synced commit follows within
// auditSyncDelay.
func (db *DB) scheduleAuditSync() {
	a := &db.auditSync
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.timer != nil || a.closed {
		return
	}
	a.timer = time.AfterFunc(auditSyncDelay, func() {
		a.mu.Lock()
		a.timer = nil
		a.mu.Unlock()
		_ = db.syncAudit() // on failure the next change's commit or checkpoint syncs
	})
}

// syncAudit commits a one-row write with synchronous=FULL: SQLite syncs the
// WAL, and with it every frame written before.
func (db *DB) syncAudit() error {
	return db.inWriteTx(context.Background(), "sync audit", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.Background(), "UPDATE audit_chain SET one = 1 WHERE one = 1")
		return err
	})
}

// closeAudit syncs what AppendAudit left unsynced, before the database
// closes.
func (db *DB) closeAudit() error {
	a := &db.auditSync
	a.mu.Lock()
	a.closed = true
	t := a.timer
	a.timer = nil
	a.mu.Unlock()
	if t != nil && t.Stop() {
		return db.syncAudit()
	}
	return nil
}

// scanAudit reads rows of auditColumns.
func scanAudit(rows *sql.Rows, fn func(*teleconsult.AuditEntry) bool) error {
	defer rows.Close()
	for rows.Next() {
		var e teleconsult.AuditEntry
		var kind, action string
		if err := rows.Scan(&e.ID, timeCol{&e.Time}, &kind, &e.KeyID, &e.UserID, &e.ParticipantID,
			&e.RequestID, &e.ClientAddr, &e.TeleconsultationID, &action, &e.Object, &e.Outcome, &e.Hash); err != nil {
			return err
		}
		e.Kind, e.Action = teleconsult.ActorKind(kind), teleconsult.AuditAction(action)
		if !fn(&e) {
			break
		}
	}
	return rows.Err()
}

// FindAudit implements [teleconsult.AuditStore.FindAudit].
func (db *DB) FindAudit(ctx context.Context, q teleconsult.AuditQuery) ([]teleconsult.AuditEntry, error) {
	defer db.observe(opFindAudit, time.Now())
	var b strings.Builder
	b.WriteString("SELECT " + auditColumns + " FROM audit_log WHERE id > $1")
	args := []any{q.After}
	cond := func(sql string, v any) {
		args = append(args, v)
		b.WriteString(" AND " + sql + " $" + strconv.Itoa(len(args)))
	}
	if q.TeleconsultationID != "" {
		cond("teleconsultation_id =", q.TeleconsultationID)
	}
	if !q.From.IsZero() {
		cond("at >=", db.timeArg(q.From, false))
	}
	if !q.To.IsZero() {
		cond("at <", db.timeArg(q.To, false))
	}
	args = append(args, q.Limit)
	b.WriteString(" ORDER BY id LIMIT $" + strconv.Itoa(len(args)))
	// The query is one of eight shapes: prepare each once.
	stmt, err := db.prepared(ctx, b.String())
	if err != nil {
		return nil, dbErr("find audit", err)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, dbErr("find audit", err)
	}
	var out []teleconsult.AuditEntry
	if err := scanAudit(rows, func(e *teleconsult.AuditEntry) bool { out = append(out, *e); return true }); err != nil {
		return nil, dbErr("find audit", err)
	}
	return out, nil
}

// VerifyAudit implements [teleconsult.AuditStore.VerifyAudit]: the anchor,
// every entry and the head are read in one read-only transaction (one
// snapshot), entry by entry.
func (db *DB) VerifyAudit(ctx context.Context) (*teleconsult.AuditVerification, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == DialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, dbErr("verify audit", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to keep
	var head teleconsult.AuditHead
	var anchor teleconsult.AuditAnchor
	if err := tx.QueryRowContext(ctx, "SELECT head_id, head_hash, anchor_id, anchor_hash, anchor_mac FROM audit_chain WHERE one = 1").
		Scan(&head.ID, &head.Hash, &anchor.ID, &anchor.Hash, &anchor.MAC); err != nil {
		return nil, dbErr("verify audit", err)
	}
	v := db.keys.AuditChain().Verifier(anchor)
	rows, err := tx.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit_log ORDER BY id")
	if err != nil {
		return nil, dbErr("verify audit", err)
	}
	if err := scanAudit(rows, v.Next); err != nil {
		return nil, dbErr("verify audit", err)
	}
	return v.End(head), nil
}

// PruneAudit implements [teleconsult.AuditStore.PruneAudit].
func (db *DB) PruneAudit(ctx context.Context, before time.Time, record teleconsult.AuditEntry) (int, error) {
	if err := teleconsult.CheckAuditEntries([]teleconsult.AuditEntry{record}); err != nil {
		return 0, err
	}
	st, err := db.auditPrepared(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	err = db.inWriteTx(ctx, "prune audit", func(tx *sql.Tx) error {
		if _, err := auditHead(ctx, tx, st); err != nil { // the lock, on PostgreSQL
			return err
		}
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT max(id) FROM audit_log WHERE at < $1", db.timeArg(before, false)).Scan(&last); err != nil {
			return err
		}
		if last.Valid {
			var hash []byte
			if err := tx.QueryRowContext(ctx, "SELECT hash FROM audit_log WHERE id = $1", last.Int64).Scan(&hash); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM audit_log WHERE id <= $1", last.Int64)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			a := db.keys.AuditChain().Anchor(last.Int64, hash)
			if _, err := tx.ExecContext(ctx, "UPDATE audit_chain SET anchor_id = $1, anchor_hash = $2, anchor_mac = $3 WHERE one = 1",
				a.ID, a.Hash, a.MAC); err != nil {
				return err
			}
			record.Object = strconv.FormatInt(last.Int64, 10)
			return db.appendAudit(ctx, tx, st, []teleconsult.AuditEntry{record})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

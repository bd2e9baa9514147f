package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The outbox (migration 00002): invitation messages written by Apply in the
// transaction of the change that causes them, claimed and marked by the
// outbox worker. Rows hold ids, kinds, times and the server's reasons, never
// patient data.

const outboxColumns = `teleconsultation_id, user_id, kind, sequence, start_date, end_date, resend,
	created_at, status, attempts, next_attempt_at, last_error, sent_at, updated_at`

const nOutboxColumns = 14

// maxReasonLen bounds a stored failure reason.
const maxReasonLen = 500

// outboxArgs checks and encodes messages before a transaction.
func (db *DB) outboxArgs(msgs []teleconsult.OutboxMessage) ([][]any, error) {
	out := make([][]any, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.TeleconsultationID == "" || m.UserID == "" || m.Kind == teleconsult.InvitationUnknown || m.Status == teleconsult.DeliveryUnknown {
			return nil, teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: outbox message %d is incomplete", i)
		}
		out[i] = []any{
			m.TeleconsultationID, m.UserID, m.Kind.String(), m.Sequence,
			db.timeArg(m.StartDate, false), db.timeArg(m.EndDate, false), m.Resend,
			db.timeArg(m.CreatedAt, false), m.Status.String(), m.Attempts,
			db.timeArg(m.NextAttemptAt, false), reason(m.LastError), db.timeArg(m.SentAt, true),
			db.timeArg(m.UpdatedAt, false),
		}
	}
	return out, nil
}

// reason makes a failure reason storable: valid UTF-8, control characters
// blanked (PostgreSQL refuses NUL in text), at most maxReasonLen bytes.
func reason(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= maxReasonLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxReasonLen], "")
}

// insertOutbox writes encoded messages in tx and puts their ids in ids.
func (db *DB) insertOutbox(ctx context.Context, tx *sql.Tx, rows [][]any, ids []int64) error {
	var b strings.Builder
	b.WriteString("INSERT INTO outbox (" + outboxColumns + ") VALUES ")
	placeholders(&b, 0, nOutboxColumns)
	b.WriteString(" RETURNING id")
	q := b.String()
	for i, args := range rows {
		if err := tx.QueryRowContext(ctx, q, args...).Scan(&ids[i]); err != nil {
			return err
		}
	}
	return nil
}

// scanOutbox reads rows of "id, " + outboxColumns.
func scanOutbox(rows *sql.Rows) ([]teleconsult.OutboxMessage, error) {
	defer rows.Close()
	var out []teleconsult.OutboxMessage
	for rows.Next() {
		var m teleconsult.OutboxMessage
		var kind, status string
		if err := rows.Scan(&m.ID, &m.TeleconsultationID, &m.UserID, &kind, &m.Sequence,
			timeCol{&m.StartDate}, timeCol{&m.EndDate}, &m.Resend, timeCol{&m.CreatedAt}, &status,
			&m.Attempts, timeCol{&m.NextAttemptAt}, &m.LastError, timeCol{&m.SentAt},
			timeCol{&m.UpdatedAt}); err != nil {
			return nil, err
		}
		m.Kind = teleconsult.ParseInvitationKind(kind)
		m.Status = teleconsult.ParseDeliveryStatus(status)
		out = append(out, m)
	}
	return out, rows.Err()
}

// ClaimOutbox implements [teleconsult.OutboxStore.ClaimOutbox]. On
// PostgreSQL, concurrent workers skip each other's locked rows (FOR UPDATE
// SKIP LOCKED); on SQLite the single writer serialises them.
func (db *DB) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]teleconsult.OutboxMessage, error) {
	defer db.observe(opClaimOutbox, time.Now())
	// One message at a time per (teleconsultation, user).
	return claimQueue(ctx, db, queue[teleconsult.OutboxMessage]{op: "claim outbox", table: "outbox", group: "user_id", columns: outboxColumns,
		scan: scanOutbox, id: func(m teleconsult.OutboxMessage) int64 { return m.ID }}, now, lease, limit)
}

// queue names a table of queued messages for claimQueue: the operation's
// name in errors, the table's name, the column that with teleconsultation_id makes a group (only the oldest
// pending message of a group is claimed), its columns after id, how to
// read them, and a message's id.
type queue[M any] struct {
	op, table, group, columns string
	scan                      func(*sql.Rows) ([]M, error)
	id                        func(M) int64
}

// claimQueue claims up to limit messages of q until now+lease, in id
// order: pending, due, not claimed by another worker, and the oldest
// pending one of its group. On PostgreSQL, concurrent workers skip each
// other's locked rows (FOR UPDATE SKIP LOCKED); on SQLite the single writer
// serialises them.
func claimQueue[M any](ctx context.Context, db *DB, q queue[M], now time.Time, lease time.Duration, limit int) ([]M, error) {
	if limit <= 0 {
		return nil, nil
	}
	lock := ""
	if db.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	// G202: only the constants of ClaimOutbox and ClaimWebhooks go into
	// the statement; the values are parameters.
	//nolint:gosec // see above
	stmt := `UPDATE ` + q.table + ` SET claimed_until = $1 WHERE id IN (
		SELECT o.id FROM ` + q.table + ` o
		WHERE o.status = 'pending' AND o.next_attempt_at <= $2
		  AND (o.claimed_until IS NULL OR o.claimed_until <= $2)
		  AND NOT EXISTS (SELECT 1 FROM ` + q.table + ` e WHERE e.teleconsultation_id = o.teleconsultation_id
		                  AND e.` + q.group + ` = o.` + q.group + ` AND e.status = 'pending' AND e.id < o.id)
		ORDER BY o.id LIMIT $3` + lock + `)
		RETURNING id, ` + q.columns
	var out []M
	err := db.inWriteTx(ctx, q.op, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, stmt, db.timeArg(now.Add(lease), false), db.timeArg(now, false), limit)
		if err != nil {
			return err
		}
		out, err = q.scan(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING does not promise an order.
	slices.SortFunc(out, func(a, b M) int { return cmp.Compare(q.id(a), q.id(b)) })
	return out, nil
}

// MarkOutbox implements [teleconsult.OutboxStore.MarkOutbox].
func (db *DB) MarkOutbox(ctx context.Context, m *teleconsult.OutboxMessage) error {
	defer db.observe(opMarkOutbox, time.Now())
	if m.Status == teleconsult.DeliveryUnknown {
		return teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: outbox message %d: no status", m.ID)
	}
	hooks, err := db.hookArgs(m.Emit)
	if err != nil {
		return err
	}
	hookIDs := make([]int64, len(hooks))
	return db.inWriteTx(ctx, "mark outbox", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET status = $2, attempts = $3, next_attempt_at = $4,
			last_error = $5, sent_at = $6, updated_at = $7, claimed_until = NULL WHERE id = $1`,
			m.ID, m.Status.String(), m.Attempts, db.timeArg(m.NextAttemptAt, false), reason(m.LastError),
			db.timeArg(m.SentAt, true), db.timeArg(m.UpdatedAt, false))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return teleconsult.Errorf(teleconsult.ENOTFOUND, "outbox message %d not found", m.ID)
		}
		if err := db.insertHooks(ctx, tx, hooks, hookIDs); err != nil {
			return err
		}
		for i := range m.Emit {
			m.Emit[i].ID = hookIDs[i]
		}
		return nil
	})
}

// FindOutbox implements [teleconsult.OutboxStore.FindOutbox].
func (db *DB) FindOutbox(ctx context.Context, teleconsultationID string) ([]teleconsult.OutboxMessage, error) {
	defer db.observe(opFindOutbox, time.Now())
	stmt, err := db.prepared(ctx, "SELECT id, "+outboxColumns+" FROM outbox WHERE teleconsultation_id = $1 ORDER BY id")
	if err != nil {
		return nil, dbErr("find outbox", err)
	}
	rows, err := stmt.QueryContext(ctx, teleconsultationID)
	if err != nil {
		return nil, dbErr("find outbox", err)
	}
	out, err := scanOutbox(rows)
	if err != nil {
		return nil, dbErr("find outbox", err)
	}
	return out, nil
}

// RecoverOutbox implements [teleconsult.OutboxStore.RecoverOutbox]. On
// SQLite this process is the database's only user, so every claim left is
// a dead process's and is released. On PostgreSQL other replicas may be
// sending: claims are left to expire after their lease.
func (db *DB) RecoverOutbox(ctx context.Context) (int, error) {
	defer db.observe(opRecoverOutbox, time.Now())
	if db.dialect != DialectSQLite {
		return 0, nil
	}
	var n int64
	err := db.inWriteTx(ctx, "recover outbox", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE outbox SET claimed_until = NULL WHERE claimed_until IS NOT NULL AND status = 'pending'")
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// OutboxStats implements [teleconsult.OutboxStore.OutboxStats]. The
// partial index outbox_unsent (migration 00007) covers the query, so its
// cost follows the messages not sent, not the whole outbox.
func (db *DB) OutboxStats(ctx context.Context) ([]teleconsult.OutboxCount, error) {
	defer db.observe(opOutboxStats, time.Now())
	stmt, err := db.prepared(ctx, `SELECT kind, status, COUNT(*), MIN(created_at) FROM outbox
		WHERE status <> 'sent' GROUP BY kind, status`)
	if err != nil {
		return nil, dbErr("outbox stats", err)
	}
	rows, err := stmt.QueryContext(ctx)
	if err != nil {
		return nil, dbErr("outbox stats", err)
	}
	defer rows.Close()
	var out []teleconsult.OutboxCount
	for rows.Next() {
		var c teleconsult.OutboxCount
		var kind, status string
		if err := rows.Scan(&kind, &status, &c.Count, timeCol{&c.Oldest}); err != nil {
			return nil, dbErr("outbox stats", err)
		}
		c.Kind, c.Status = teleconsult.ParseInvitationKind(kind), teleconsult.ParseDeliveryStatus(status)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("outbox stats", err)
	}
	return out, nil
}

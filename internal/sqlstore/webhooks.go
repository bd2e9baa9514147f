package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// The webhook outbox (migration 00008): outgoing webhook events written by
// Apply (and MarkOutbox) in the transaction of the change they tell of,
// claimed and marked by the webhook worker. Rows hold ids, states, times
// and the receivers' statuses, never patient data.

const hookColumns = `endpoint, event_id, type, teleconsultation_id, payload, created_at, status,
	attempts, next_attempt_at, last_status, last_error, sent_at, updated_at`

const nHookColumns = 13

// hookArgs checks and encodes events before a transaction.
func (db *DB) hookArgs(msgs []teleconsult.WebhookMessage) ([][]any, error) {
	out := make([][]any, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.Endpoint == "" || m.EventID == "" || m.Type == "" || m.TeleconsultationID == "" || len(m.Payload) == 0 || m.Status == teleconsult.DeliveryUnknown {
			return nil, teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: webhook event %d is incomplete", i)
		}
		out[i] = []any{
			m.Endpoint, m.EventID, string(m.Type), m.TeleconsultationID, m.Payload,
			db.timeArg(m.CreatedAt, false), m.Status.String(), m.Attempts,
			db.timeArg(m.NextAttemptAt, false), m.LastStatus, reason(m.LastError),
			db.timeArg(m.SentAt, true), db.timeArg(m.UpdatedAt, false),
		}
	}
	return out, nil
}

// insertHooks writes encoded events in tx and puts their ids in ids.
func (db *DB) insertHooks(ctx context.Context, tx *sql.Tx, rows [][]any, ids []int64) error {
	if len(rows) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO webhook_outbox (" + hookColumns + ") VALUES ")
	placeholders(&b, 0, nHookColumns)
	b.WriteString(" RETURNING id")
	q := b.String()
	for i, args := range rows {
		if err := tx.QueryRowContext(ctx, q, args...).Scan(&ids[i]); err != nil {
			return err
		}
	}
	return nil
}

// scanHooks reads rows of "id, " + hookColumns.
func scanHooks(rows *sql.Rows) ([]teleconsult.WebhookMessage, error) {
	defer rows.Close()
	var out []teleconsult.WebhookMessage
	for rows.Next() {
		var m teleconsult.WebhookMessage
		var typ, status string
		if err := rows.Scan(&m.ID, &m.Endpoint, &m.EventID, &typ, &m.TeleconsultationID, &m.Payload,
			timeCol{&m.CreatedAt}, &status, &m.Attempts, timeCol{&m.NextAttemptAt}, &m.LastStatus,
			&m.LastError, timeCol{&m.SentAt}, timeCol{&m.UpdatedAt}); err != nil {
			return nil, err
		}
		m.Type = teleconsult.WebhookEvent(typ)
		m.Status = teleconsult.ParseDeliveryStatus(status)
		out = append(out, m)
	}
	return out, rows.Err()
}

// ClaimWebhooks implements [teleconsult.WebhookStore.ClaimWebhooks]. On
// PostgreSQL, concurrent workers skip each other's locked rows.
func (db *DB) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]teleconsult.WebhookMessage, error) {
	defer db.observe(opClaimWebhooks, time.Now())
	// One event at a time per (teleconsultation, receiver).
	return claimQueue(ctx, db, queue[teleconsult.WebhookMessage]{op: "claim webhooks", table: "webhook_outbox", group: "endpoint", columns: hookColumns,
		scan: scanHooks, id: func(m teleconsult.WebhookMessage) int64 { return m.ID }}, now, lease, limit)
}

// MarkWebhook implements [teleconsult.WebhookStore.MarkWebhook].
func (db *DB) MarkWebhook(ctx context.Context, m *teleconsult.WebhookMessage) error {
	defer db.observe(opMarkWebhook, time.Now())
	if m.Status == teleconsult.DeliveryUnknown {
		return teleconsult.Errorf(teleconsult.EINTERNAL, "sqlstore: webhook event %d: no status", m.ID)
	}
	return db.inWriteTx(ctx, "mark webhook", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_outbox SET status = $2, attempts = $3, next_attempt_at = $4,
			last_status = $5, last_error = $6, sent_at = $7, updated_at = $8, claimed_until = NULL WHERE id = $1`,
			m.ID, m.Status.String(), m.Attempts, db.timeArg(m.NextAttemptAt, false), m.LastStatus, reason(m.LastError),
			db.timeArg(m.SentAt, true), db.timeArg(m.UpdatedAt, false))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return teleconsult.Errorf(teleconsult.ENOTFOUND, "webhook event %d not found", m.ID)
		}
		return nil
	})
}

// FindWebhooks implements [teleconsult.WebhookStore.FindWebhooks].
func (db *DB) FindWebhooks(ctx context.Context, teleconsultationID string) ([]teleconsult.WebhookMessage, error) {
	defer db.observe(opFindWebhooks, time.Now())
	stmt, err := db.prepared(ctx, "SELECT id, "+hookColumns+" FROM webhook_outbox WHERE teleconsultation_id = $1 ORDER BY id")
	if err != nil {
		return nil, dbErr("find webhooks", err)
	}
	rows, err := stmt.QueryContext(ctx, teleconsultationID)
	if err != nil {
		return nil, dbErr("find webhooks", err)
	}
	out, err := scanHooks(rows)
	if err != nil {
		return nil, dbErr("find webhooks", err)
	}
	return out, nil
}

// RecoverWebhooks implements [teleconsult.WebhookStore.RecoverWebhooks]:
// on SQLite every claim left is a dead process's; on PostgreSQL claims
// expire after their lease.
func (db *DB) RecoverWebhooks(ctx context.Context) (int, error) {
	defer db.observe(opRecoverWebhooks, time.Now())
	if db.dialect != DialectSQLite {
		return 0, nil
	}
	var n int64
	err := db.inWriteTx(ctx, "recover webhooks", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE webhook_outbox SET claimed_until = NULL WHERE claimed_until IS NOT NULL AND status = 'pending'")
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

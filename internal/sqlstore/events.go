package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// This file implements [teleconsult.ProviderEvents]: what the webhooks of a
// hosted video provider need (tables of migration 00003).

var _ teleconsult.ProviderEvents = (*DB)(nil)

// Retention of the webhook bookkeeping: event ids are kept long enough to
// outlast a provider's retries (Daily retries for up to 15 minutes);
// presence rows of a meeting whose end was never reported are dropped
// after two days.
const (
	eventRetention    = 7 * 24 * time.Hour
	presenceRetention = 48 * time.Hour
)

// FindByProviderRoom returns the teleconsultation whose room at provider is
// room, or ENOTFOUND.
func (db *DB) FindByProviderRoom(ctx context.Context, provider, room string) (*teleconsult.Teleconsultation, error) {
	defer db.observe(opFindByProviderRoom, time.Now())
	if room == "" {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no teleconsultation has this room")
	}
	stmt, err := db.prepared(ctx, "SELECT id FROM teleconsultations WHERE provider = $1 AND provider_room_id = $2")
	if err != nil {
		return nil, dbErr("find by provider room", err)
	}
	var id string
	err = stmt.QueryRowContext(ctx, provider, room).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no teleconsultation has this room")
	} else if err != nil {
		return nil, dbErr("find by provider room", err)
	}
	return db.FindByID(ctx, id)
}

// ClaimEvent records event id of provider and reports whether it was new.
// Event ids older than a week are pruned in the same transaction.
func (db *DB) ClaimEvent(ctx context.Context, provider, id string, at time.Time) (bool, error) {
	defer db.observe(opClaimEvent, time.Now())
	var claimed bool
	err := db.inWriteTx(ctx, "claim provider event", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM provider_events WHERE received_at < $1",
			db.timeArg(at.Add(-eventRetention), false)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM provider_presence WHERE updated_at < $1",
			db.timeArg(at.Add(-presenceRetention), false)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO provider_events (provider, event_id, received_at)
			VALUES ($1, $2, $3) ON CONFLICT (provider, event_id) DO NOTHING`, provider, id, db.timeArg(at, false))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	return claimed, err
}

// ReleaseEvent forgets a claimed event, so that its retry is handled.
func (db *DB) ReleaseEvent(ctx context.Context, provider, id string) error {
	defer db.observe(opReleaseEvent, time.Now())
	return db.inWriteTx(ctx, "release provider event", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM provider_events WHERE provider = $1 AND event_id = $2", provider, id)
		return err
	})
}

// Presence records that session joined or left room and returns how many
// sessions are in it. A leave always wins over a join of the same session,
// whatever their order.
func (db *DB) Presence(ctx context.Context, provider, room, session string, present bool, at time.Time) (int, error) {
	defer db.observe(opPresence, time.Now())
	var n int
	err := db.inWriteTx(ctx, "provider presence", func(tx *sql.Tx) error {
		var err error
		if present {
			_, err = tx.ExecContext(ctx, `INSERT INTO provider_presence (provider, room_id, session_id, present, updated_at)
				VALUES ($1, $2, $3, 1, $4) ON CONFLICT (provider, room_id, session_id) DO NOTHING`,
				provider, room, session, db.timeArg(at, false))
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO provider_presence (provider, room_id, session_id, present, updated_at)
				VALUES ($1, $2, $3, 0, $4) ON CONFLICT (provider, room_id, session_id)
				DO UPDATE SET present = 0, updated_at = excluded.updated_at`,
				provider, room, session, db.timeArg(at, false))
		}
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM provider_presence
			WHERE provider = $1 AND room_id = $2 AND present = 1`, provider, room).Scan(&n)
	})
	return n, err
}

// ClearPresence forgets who was in room.
func (db *DB) ClearPresence(ctx context.Context, provider, room string) error {
	defer db.observe(opClearPresence, time.Now())
	return db.inWriteTx(ctx, "clear provider presence", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM provider_presence WHERE provider = $1 AND room_id = $2", provider, room)
		return err
	})
}

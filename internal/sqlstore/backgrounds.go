package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

var _ teleconsult.BackgroundStore = (*DB)(nil)

// AddBackground implements [teleconsult.BackgroundStore.AddBackground].
func (db *DB) AddBackground(ctx context.Context, b *teleconsult.Background) error {
	defer db.observe(opAddBackground, time.Now())
	sum := sha256.Sum256(b.Data)
	err := db.inWriteTx(ctx, "add background", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO backgrounds (alias, content_type, width, height, size, sha256, data, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			b.Alias, b.ContentType, b.Width, b.Height, b.Size, sum[:], b.Data, db.timeArg(b.CreatedAt, false))
		return err
	})
	if err == nil {
		b.CreatedAt = normTime(b.CreatedAt)
	}
	return err
}

// FindBackground implements [teleconsult.BackgroundStore.FindBackground].
// An image whose content does not match its SHA-256 is EDAMAGED.
func (db *DB) FindBackground(ctx context.Context, alias string) (*teleconsult.Background, error) {
	defer db.observe(opFindBackground, time.Now())
	var (
		b   teleconsult.Background
		sum []byte
	)
	err := db.r.QueryRowContext(ctx, `SELECT alias, content_type, width, height, size, sha256, data, created_at
		FROM backgrounds WHERE alias = $1`, alias).
		Scan(&b.Alias, &b.ContentType, &b.Width, &b.Height, &b.Size, &sum, &b.Data, timeCol{&b.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no background with that alias")
	}
	if err != nil {
		return nil, dbErr("find background", err)
	}
	if got := sha256.Sum256(b.Data); !bytes.Equal(got[:], sum) || int64(len(b.Data)) != b.Size {
		return nil, teleconsult.Errorf(teleconsult.EDAMAGED, "the stored background image is damaged")
	}
	return &b, nil
}

// SetDefaultBackground implements
// [teleconsult.BackgroundStore.SetDefaultBackground].
func (db *DB) SetDefaultBackground(ctx context.Context, alias string) error {
	defer db.observe(opSetDefaultBackground, time.Now())
	return db.inWriteTx(ctx, "set default background", func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM backgrounds WHERE alias = $1`, alias).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return teleconsult.Errorf(teleconsult.ENOTFOUND, "no background with that alias")
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO company_settings (id, default_background) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET default_background = excluded.default_background`, alias)
		return err
	})
}

// DefaultBackground implements
// [teleconsult.BackgroundStore.DefaultBackground].
func (db *DB) DefaultBackground(ctx context.Context) (*teleconsult.Background, error) {
	defer db.observe(opDefaultBackground, time.Now())
	var b teleconsult.Background
	err := db.r.QueryRowContext(ctx, `SELECT b.alias, b.content_type, b.width, b.height, b.size, b.created_at
		FROM company_settings c JOIN backgrounds b ON b.alias = c.default_background WHERE c.id = 1`).
		Scan(&b.Alias, &b.ContentType, &b.Width, &b.Height, &b.Size, timeCol{&b.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "no default background")
	}
	if err != nil {
		return nil, dbErr("find default background", err)
	}
	return &b, nil
}

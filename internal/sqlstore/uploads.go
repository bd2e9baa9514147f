package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/teleconsult/teleconsult/internal/teleconsult"
)

// fieldUploadName is the additional data sealing upload file names.
const fieldUploadName = "upload.name"

var _ teleconsult.UploadStore = (*DB)(nil)

// AddUpload implements [teleconsult.UploadStore.AddUpload].
func (db *DB) AddUpload(ctx context.Context, u *teleconsult.Upload) error {
	defer db.observe(opAddUpload, time.Now())
	name := db.keys.Seal(fieldUploadName, []byte(u.Name))
	err := db.inWriteTx(ctx, "add upload", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO uploads (id, teleconsultation_id, uploaded_by, name, content_type, size, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			u.ID, u.TeleconsultationID, u.UploadedBy, name, u.ContentType, u.Size, db.timeArg(u.CreatedAt, false))
		return err
	})
	if err == nil {
		u.CreatedAt = normTime(u.CreatedAt)
	}
	return err
}

const uploadColumns = "id, teleconsultation_id, uploaded_by, name, content_type, size, created_at"

func (db *DB) scanUpload(rows interface{ Scan(...any) error }) (teleconsult.Upload, error) {
	var (
		u    teleconsult.Upload
		name []byte
	)
	if err := rows.Scan(&u.ID, &u.TeleconsultationID, &u.UploadedBy, &name, &u.ContentType, &u.Size, timeCol{&u.CreatedAt}); err != nil {
		return u, dbErr("read upload", err)
	}
	plain, err := db.keys.Open(fieldUploadName, name)
	if err != nil {
		return u, errKeyMismatch(err)
	}
	u.Name = string(plain)
	return u, nil
}

// Uploads implements [teleconsult.UploadStore.Uploads].
func (db *DB) Uploads(ctx context.Context, teleconsultationID string) ([]teleconsult.Upload, error) {
	defer db.observe(opUploads, time.Now())
	return db.queryUploads(ctx, db.r, "SELECT "+uploadColumns+" FROM uploads WHERE teleconsultation_id = $1 ORDER BY created_at, id", teleconsultationID)
}

func (db *DB) queryUploads(ctx context.Context, q querier, query string, args ...any) ([]teleconsult.Upload, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbErr("list uploads", err)
	}
	defer rows.Close()
	var out []teleconsult.Upload
	for rows.Next() {
		u, err := db.scanUpload(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list uploads", err)
	}
	return out, nil
}

// FindUpload implements [teleconsult.UploadStore.FindUpload].
func (db *DB) FindUpload(ctx context.Context, teleconsultationID, id string) (*teleconsult.Upload, error) {
	defer db.observe(opFindUpload, time.Now())
	row := db.r.QueryRowContext(ctx, "SELECT "+uploadColumns+" FROM uploads WHERE teleconsultation_id = $1 AND id = $2", teleconsultationID, id)
	u, err := db.scanUpload(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, teleconsult.Errorf(teleconsult.ENOTFOUND, "file %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// DeleteUploads implements [teleconsult.UploadStore.DeleteUploads].
func (db *DB) DeleteUploads(ctx context.Context, teleconsultationID string) ([]teleconsult.Upload, error) {
	defer db.observe(opDeleteUploads, time.Now())
	var gone []teleconsult.Upload
	err := db.inWriteTx(ctx, "delete uploads", func(tx *sql.Tx) error {
		var err error
		gone, err = db.queryUploads(ctx, tx, "SELECT "+uploadColumns+" FROM uploads WHERE teleconsultation_id = $1 ORDER BY created_at, id", teleconsultationID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM uploads WHERE teleconsultation_id = $1", teleconsultationID)
		return err
	})
	return gone, err
}

// UploadIDs implements [teleconsult.UploadStore.UploadIDs].
func (db *DB) UploadIDs(ctx context.Context) (map[string]bool, error) {
	defer db.observe(opUploadIDs, time.Now())
	rows, err := db.r.QueryContext(ctx, "SELECT id FROM uploads")
	if err != nil {
		return nil, dbErr("upload ids", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, dbErr("upload ids", err)
		}
		out[id] = true
	}
	return out, dbErr0("upload ids", rows.Err())
}

// errKeyMismatch is the error of a ciphertext this key cannot open.
func errKeyMismatch(err error) error {
	return &teleconsult.Error{Code: teleconsult.EINTERNAL,
		Message: "cannot decrypt stored data: the ENCRYPTION_KEY does not match the one the database was written with (or the data was altered)",
		Err:     err}
}

// dbErr0 is dbErr that passes nil through.
func dbErr0(op string, err error) error {
	if err == nil {
		return nil
	}
	return dbErr(op, err)
}

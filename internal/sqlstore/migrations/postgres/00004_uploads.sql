-- Files uploaded during calls (tool file_upload), PostgreSQL dialect; the
-- SQLite twin is migrations/sqlite/00004_uploads.sql.
-- The file's bytes live on disk under DATA_DIR/uploads/<id>; the record is
-- committed only once the file is durable, so a record never lacks its file.
-- The file name is patient data: stored only as ciphertext
-- (Keyring.Seal("upload.name", ...)).

-- +goose Up
CREATE TABLE uploads (
    id                  text        NOT NULL PRIMARY KEY,      -- random 128-bit hex; also the file's name on disk
    teleconsultation_id text        NOT NULL REFERENCES teleconsultations (id) ON DELETE CASCADE,
    uploaded_by         text        NOT NULL,                  -- participant id (provider user id)
    name                bytea       NOT NULL,                  -- Seal("upload.name", ...)
    content_type        text        NOT NULL,
    size                bigint      NOT NULL CHECK (size > 0),
    created_at          timestamptz NOT NULL
);
CREATE INDEX uploads_teleconsultation ON uploads (teleconsultation_id, created_at);

-- +goose Down
DROP TABLE uploads;

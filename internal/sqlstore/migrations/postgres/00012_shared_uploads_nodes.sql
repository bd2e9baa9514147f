-- Scale-out over one PostgreSQL, PostgreSQL dialect (the SQLite twin is
-- migrations/sqlite/00012_shared_uploads_nodes.sql; keep the two in step).
--
-- upload_blobs and upload_chunks keep the uploaded files' content where
-- every replica reads it, encrypted as on disk (internal/files/stream.go):
-- one row per file, and its bytes in order, one row per unit of the
-- format (seq 0 the header, then one sealed 64 KiB chunk each). The
-- chunks are written one statement at a time (no transaction holds a
-- connection while a slow client uploads) and the file counts only once
-- complete is set; a file left incomplete by a crash, or without its
-- uploads record, is removed by the sweep at start. There is no foreign
-- key to uploads: the content is stored before its record is committed.
-- With SQLite the service keeps the files under DATA_DIR/uploads and these
-- tables stay empty.
--
-- node_fingerprints holds, for every running process, a keyed hash
-- (HMAC under a key derived from ENCRYPTION_KEY) of each setting that must
-- be the same on every replica, never the value, so that a replica
-- started with another ENCRYPTION_KEY or PUBLIC_URL is refused at start.

-- +goose Up
CREATE TABLE upload_blobs (
    id         text        NOT NULL PRIMARY KEY,  -- the upload's id (uploads.id)
    complete   boolean     NOT NULL DEFAULT false, -- every chunk is written
    created_at timestamptz NOT NULL
);

CREATE TABLE upload_chunks (
    upload_id text    NOT NULL REFERENCES upload_blobs (id) ON DELETE CASCADE,
    seq       integer NOT NULL,                   -- 0: the header; then the chunks in order
    data      bytea   NOT NULL,                   -- ciphertext: nothing to compress
    PRIMARY KEY (upload_id, seq)
);
-- Out of line and uncompressed: compressing ciphertext only costs CPU.
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE node_fingerprints (
    node        text        NOT NULL,             -- random id of one running process
    host        text        NOT NULL,             -- its host name and LISTEN_ADDR, for the operator
    setting     text        NOT NULL,             -- the variable's name, e.g. PUBLIC_URL
    fingerprint bytea       NOT NULL,             -- keyed hash of the value
    seen_at     timestamptz NOT NULL,             -- renewed while the process runs
    PRIMARY KEY (node, setting)
);

-- +goose Down
DROP TABLE node_fingerprints;
DROP TABLE upload_chunks;
DROP TABLE upload_blobs;

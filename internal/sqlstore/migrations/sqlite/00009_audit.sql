-- The audit trail, SQLite dialect (the PostgreSQL twin is
-- migrations/postgres/00009_audit.sql; keep the two in step).
--
-- One row per audited operation (a read of patient data, a change), written
-- in the transaction of the change it records. Rows hold ids, never names,
-- emails, links or tokens. Each row's hash chains it to the previous one
-- under a key derived from ENCRYPTION_KEY (teleconsult.AuditChain); the
-- one row of audit_chain holds the head (the last entry) and the anchor
-- (the last entry pruned by AUDIT_RETENTION, sealed).

-- +goose Up
CREATE TABLE audit_log (
    id                  INTEGER NOT NULL PRIMARY KEY,   -- the place in the chain, from 1, no gaps
    at                  TEXT    NOT NULL,
    actor_kind          TEXT    NOT NULL,
    key_id              TEXT    NOT NULL DEFAULT '',
    user_id             TEXT    NOT NULL DEFAULT '',
    participant_id      TEXT    NOT NULL DEFAULT '',
    request_id          TEXT    NOT NULL DEFAULT '',
    client_addr         TEXT    NOT NULL DEFAULT '',
    teleconsultation_id TEXT    NOT NULL DEFAULT '',    -- no foreign key: entries outlive what they name
    action              TEXT    NOT NULL,
    object              TEXT    NOT NULL DEFAULT '',
    outcome             TEXT    NOT NULL,
    hash                BLOB    NOT NULL
) STRICT;

-- GET /audit?teleconsultationId=…
CREATE INDEX audit_log_visit ON audit_log (teleconsultation_id, id);
-- GET /audit?from=…, and pruning.
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only: rows are never updated (pruning deletes a prefix).
-- +goose StatementBegin
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

CREATE TABLE audit_chain (
    one         INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    head_id     INTEGER NOT NULL,
    head_hash   BLOB,
    anchor_id   INTEGER NOT NULL,
    anchor_hash BLOB,
    anchor_mac  BLOB
) STRICT;

INSERT INTO audit_chain (one, head_id, anchor_id) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE audit_chain;
DROP TABLE audit_log;

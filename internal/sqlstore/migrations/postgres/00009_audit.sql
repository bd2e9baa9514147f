-- The audit trail, PostgreSQL dialect (the SQLite twin is
-- migrations/sqlite/00009_audit.sql; keep the two in step).
--
-- One row per audited operation (a read of patient data, a change), written
-- in the transaction of the change it records. Rows hold ids, never names,
-- emails, links or tokens. Each row's hash chains it to the previous one
-- under a key derived from ENCRYPTION_KEY (teleconsult.AuditChain); the
-- one row of audit_chain holds the head (the last entry) and the anchor
-- (the last entry pruned by AUDIT_RETENTION, sealed). Appends lock that
-- row (SELECT … FOR UPDATE), so that replicas sharing the database extend
-- one chain and never fork it.

-- +goose Up
CREATE TABLE audit_log (
    id                  bigint      NOT NULL PRIMARY KEY, -- the place in the chain, from 1, no gaps
    at                  timestamptz NOT NULL,
    actor_kind          text        NOT NULL,
    key_id              text        NOT NULL DEFAULT '',
    user_id             text        NOT NULL DEFAULT '',
    participant_id      text        NOT NULL DEFAULT '',
    request_id          text        NOT NULL DEFAULT '',
    client_addr         text        NOT NULL DEFAULT '',
    teleconsultation_id text        NOT NULL DEFAULT '',  -- no foreign key: entries outlive what they name
    action              text        NOT NULL,
    object              text        NOT NULL DEFAULT '',
    outcome             text        NOT NULL,
    hash                bytea       NOT NULL
);

-- GET /audit?teleconsultationId=…
CREATE INDEX audit_log_visit ON audit_log (teleconsultation_id, id);
-- GET /audit?from=…, and pruning.
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only: rows are never updated (pruning deletes a prefix).
-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE audit_chain (
    one         integer NOT NULL PRIMARY KEY CHECK (one = 1),
    head_id     bigint  NOT NULL,
    head_hash   bytea,
    anchor_id   bigint  NOT NULL,
    anchor_hash bytea,
    anchor_mac  bytea
);

INSERT INTO audit_chain (one, head_id, anchor_id) VALUES (1, 0, 0);

-- +goose Down
DROP TABLE audit_chain;
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();

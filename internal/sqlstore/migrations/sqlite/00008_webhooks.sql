-- Outgoing webhooks, SQLite dialect (the PostgreSQL twin is
-- migrations/postgres/00008_webhooks.sql; keep the two in step).
--
-- One row per event per receiver: written in the same transaction as the
-- change the event tells of, delivered later by the webhook worker. The
-- payload holds ids, states and times, never patient data.

-- +goose Up
CREATE TABLE webhook_outbox (
    id                  INTEGER NOT NULL PRIMARY KEY,         -- rowid: increasing, orders a visit's events
    endpoint            TEXT    NOT NULL,                     -- the receiver's name
    event_id            TEXT    NOT NULL,                     -- webhook-id, the same on every attempt
    type                TEXT    NOT NULL,
    teleconsultation_id TEXT    NOT NULL REFERENCES teleconsultations (id) ON DELETE CASCADE,
    payload             BLOB    NOT NULL,                     -- the JSON body, as signed
    created_at          TEXT    NOT NULL,
    -- delivery state
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TEXT    NOT NULL,
    claimed_until       TEXT,
    last_status         INTEGER NOT NULL DEFAULT 0,           -- HTTP status of the last attempt
    last_error          TEXT    NOT NULL DEFAULT '',
    sent_at             TEXT,
    updated_at          TEXT    NOT NULL
) STRICT;

-- ClaimWebhooks: due pending events.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (next_attempt_at) WHERE status = 'pending';

-- FindWebhooks, and the in-order rule per visit and receiver.
CREATE INDEX webhook_outbox_visit ON webhook_outbox (teleconsultation_id, endpoint, id);

-- +goose Down
DROP TABLE webhook_outbox;

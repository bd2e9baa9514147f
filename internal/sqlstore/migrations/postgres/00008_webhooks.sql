-- Outgoing webhooks, PostgreSQL dialect (the SQLite twin is
-- migrations/sqlite/00008_webhooks.sql; keep the two in step).
--
-- One row per event per receiver: written in the same transaction as the
-- change the event tells of, delivered later by the webhook workers (one
-- per replica; claims keep them from sending the same row). The payload
-- holds ids, states and times, never patient data.

-- +goose Up
CREATE TABLE webhook_outbox (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- orders a visit's events
    endpoint            text        NOT NULL,                 -- the receiver's name
    event_id            text        NOT NULL,                 -- webhook-id, the same on every attempt
    type                text        NOT NULL,
    teleconsultation_id text        NOT NULL REFERENCES teleconsultations (id) ON DELETE CASCADE,
    payload             bytea       NOT NULL,                 -- the JSON body, as signed
    created_at          timestamptz NOT NULL,
    -- delivery state
    status              text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts            integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,
    claimed_until       timestamptz,
    last_status         integer     NOT NULL DEFAULT 0,       -- HTTP status of the last attempt
    last_error          text        NOT NULL DEFAULT '',
    sent_at             timestamptz,
    updated_at          timestamptz NOT NULL
);

-- ClaimWebhooks: due pending events.
CREATE INDEX webhook_outbox_pending ON webhook_outbox (next_attempt_at) WHERE status = 'pending';

-- FindWebhooks, and the in-order rule per visit and receiver.
CREATE INDEX webhook_outbox_visit ON webhook_outbox (teleconsultation_id, endpoint, id);

-- +goose Down
DROP TABLE webhook_outbox;

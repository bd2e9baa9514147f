-- Invitations, PostgreSQL dialect (the SQLite twin is
-- migrations/sqlite/00002_invitations.sql; keep the two in step).
--
-- The outbox holds one row per invitation email to send: written in the same
-- transaction as the change that causes it, sent later by the outbox workers
-- (one per replica; claims keep them from sending the same row). A row holds
-- no patient data: the recipient's address and personal link are read from
-- participants (encrypted) when it is sent.

-- +goose Up

-- The iCalendar SEQUENCE the next invitation messages of a teleconsultation
-- carry (Teleconsultation.CalendarSequence).
ALTER TABLE teleconsultations ADD COLUMN calendar_sequence integer NOT NULL DEFAULT 0;

-- True while the participant holds an invitation (Participant.Invited).
ALTER TABLE participants ADD COLUMN invited boolean NOT NULL DEFAULT false;

CREATE TABLE outbox (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- orders a participant's messages
    teleconsultation_id text        NOT NULL REFERENCES teleconsultations (id) ON DELETE CASCADE,
    user_id             text        NOT NULL,                 -- the participant (external user id)
    kind                text        NOT NULL CHECK (kind IN ('invite', 'update', 'cancel')),
    sequence            integer     NOT NULL,                 -- iCalendar SEQUENCE at the change
    start_date          timestamptz NOT NULL,                 -- the visit's times at the change
    end_date            timestamptz NOT NULL,
    resend              boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL,
    -- delivery state
    status              text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts            integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,                 -- pending: due from then on
    claimed_until       timestamptz,                          -- a worker is sending it until then
    last_error          text        NOT NULL DEFAULT '',      -- the server's reason, never patient data
    sent_at             timestamptz,
    updated_at          timestamptz NOT NULL
);

-- ClaimOutbox: due pending messages.
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';

-- FindOutbox, and the one-at-a-time rule per participant.
CREATE INDEX outbox_participant ON outbox (teleconsultation_id, user_id, id);

-- +goose Down
DROP TABLE outbox;
ALTER TABLE participants DROP COLUMN invited;
ALTER TABLE teleconsultations DROP COLUMN calendar_sequence;

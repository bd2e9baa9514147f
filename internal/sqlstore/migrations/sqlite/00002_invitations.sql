-- Invitations, SQLite dialect (the PostgreSQL twin is
-- migrations/postgres/00002_invitations.sql; keep the two in step).
--
-- The outbox holds one row per invitation email to send: written in the same
-- transaction as the change that causes it, sent later by the outbox worker.
-- A row holds no patient data: the recipient's address and personal link are
-- read from participants (encrypted) when it is sent.

-- +goose Up

-- The iCalendar SEQUENCE the next invitation messages of a teleconsultation
-- carry (Teleconsultation.CalendarSequence).
ALTER TABLE teleconsultations ADD COLUMN calendar_sequence INTEGER NOT NULL DEFAULT 0;

-- 1 while the participant holds an invitation (Participant.Invited).
ALTER TABLE participants ADD COLUMN invited INTEGER NOT NULL DEFAULT 0;

CREATE TABLE outbox (
    id                  INTEGER NOT NULL PRIMARY KEY,         -- rowid: increasing, orders a participant's messages
    teleconsultation_id TEXT    NOT NULL REFERENCES teleconsultations (id) ON DELETE CASCADE,
    user_id             TEXT    NOT NULL,                     -- the participant (external user id)
    kind                TEXT    NOT NULL CHECK (kind IN ('invite', 'update', 'cancel')),
    sequence            INTEGER NOT NULL,                     -- iCalendar SEQUENCE at the change
    start_date          TEXT    NOT NULL,                     -- the visit's times at the change
    end_date            TEXT    NOT NULL,
    resend              INTEGER NOT NULL DEFAULT 0 CHECK (resend IN (0, 1)),
    created_at          TEXT    NOT NULL,
    -- delivery state
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TEXT    NOT NULL,                     -- pending: due from then on
    claimed_until       TEXT,                                 -- a worker is sending it until then
    last_error          TEXT    NOT NULL DEFAULT '',          -- the server's reason, never patient data
    sent_at             TEXT,
    updated_at          TEXT    NOT NULL
) STRICT;

-- ClaimOutbox: due pending messages.
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';

-- FindOutbox, and the one-at-a-time rule per participant.
CREATE INDEX outbox_participant ON outbox (teleconsultation_id, user_id, id);

-- +goose Down
DROP TABLE outbox;
ALTER TABLE participants DROP COLUMN invited;
ALTER TABLE teleconsultations DROP COLUMN calendar_sequence;

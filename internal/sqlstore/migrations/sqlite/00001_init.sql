-- Teleconsult schema, SQLite dialect (the PostgreSQL twin is
-- migrations/postgres/00001_init.sql; keep the two in step).
--
-- Conventions:
--   * Times are TEXT in UTC, fixed width, microsecond precision:
--     2006-01-02T15:04:05.000000Z. NULL means "not set" (zero time.Time).
--   * Durations are INTEGER microseconds.
--   * Patient data (participants.full_name, participants.email) is stored
--     only as AES-256-GCM ciphertext (Keyring.Seal, the field name bound as
--     additional data); email_blind is an HMAC (Keyring.Blind) of the
--     lower-cased email for equality look-ups. No plaintext name or email is
--     ever written to this database.
--   * Tables are STRICT so that a value of the wrong type is refused.

-- +goose Up

-- One row per teleconsultation (teleconsult.Teleconsultation).
CREATE TABLE teleconsultations (
    id                    TEXT    NOT NULL PRIMARY KEY,       -- random 128-bit hex, no patient data
    appointment_id        TEXT,                               -- booking system's id, NULL when none
    start_date            TEXT    NOT NULL,
    end_date              TEXT    NOT NULL,
    expected_participants INTEGER NOT NULL,                   -- participants.number
    provider              TEXT    NOT NULL,                   -- video provider name (VIDEO_PROVIDER)
    provider_room_id      TEXT    NOT NULL DEFAULT '',        -- '' until the room is made
    -- stored state, State.String(): open and expired are derived, never stored
    state                 TEXT    NOT NULL CHECK (state IN ('waiting_for_participants', 'scheduled',
                                  'in_progress', 'ended', 'cancelled', 'replaced')),
    version               INTEGER NOT NULL CHECK (version >= 1), -- optimistic locking
    room_revision         INTEGER NOT NULL DEFAULT 0,
    replaced_by           TEXT,                               -- id of the successor, no FK (written before it exists)
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    call_started_at       TEXT,                               -- set while a call runs
    call_used_us          INTEGER NOT NULL DEFAULT 0          -- sum of ended calls, microseconds
) STRICT;

-- At most one live (neither cancelled nor replaced) teleconsultation per
-- appointment: of two concurrent creates for one appointment only one can
-- commit. Also the index behind FindByAppointment (same predicate).
CREATE UNIQUE INDEX teleconsultations_live_appointment
    ON teleconsultations (appointment_id)
    WHERE state NOT IN ('cancelled', 'replaced');

-- CountByState (metrics).
CREATE INDEX teleconsultations_state ON teleconsultations (state);

-- The participants of a teleconsultation, removed ones included, in the order
-- they were given (ordinal). Rewritten as a whole on every update.
CREATE TABLE participants (
    teleconsultation_id TEXT    NOT NULL REFERENCES teleconsultations (id) ON DELETE CASCADE,
    ordinal             INTEGER NOT NULL,                     -- position in Teleconsultation.Participants
    user_id             TEXT    NOT NULL,                     -- external user id
    groups_json         TEXT    NOT NULL DEFAULT '[]',        -- JSON array of group names
    full_name           BLOB,                                 -- Seal("participant.full_name", ...), NULL when empty
    email               BLOB,                                 -- Seal("participant.email", ...), NULL when none
    email_blind         BLOB,                                 -- Blind("participant.email", lower(email)), NULL when none
    language            TEXT    NOT NULL DEFAULT '',
    time_zone           TEXT    NOT NULL DEFAULT '',
    role                TEXT    NOT NULL CHECK (role IN ('unknown', 'basic', 'plus')),
    provider_user_id    TEXT    NOT NULL DEFAULT '',          -- from user_map
    link_nonce          BLOB,                                 -- personal link nonce (the code needs the key)
    link_hash           BLOB,                                 -- SHA-256 of the personal link code
    removed_at          TEXT,                                 -- set when removed: the link is dead
    PRIMARY KEY (teleconsultation_id, ordinal),
    UNIQUE (teleconsultation_id, user_id)
) STRICT;

-- FindByLinkHash; a link code belongs to exactly one participant.
CREATE UNIQUE INDEX participants_link_hash ON participants (link_hash);

-- Equality look-ups by email (through the blind index only).
CREATE INDEX participants_email_blind ON participants (email_blind) WHERE email_blind IS NOT NULL;

-- The user-id map: external user id -> provider user id, per provider
-- (seed 2's Kaleyra user-id map). The first writer wins; rows never change.
CREATE TABLE user_map (
    provider         TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (provider, user_id)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE user_map;
DROP TABLE participants;
DROP TABLE teleconsultations;

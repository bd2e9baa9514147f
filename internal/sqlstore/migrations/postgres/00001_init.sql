-- Teleconsult schema, PostgreSQL dialect (the SQLite twin is
-- migrations/sqlite/00001_init.sql; keep the two in step).
--
-- Conventions:
--   * Times are timestamptz (UTC instants, microsecond precision). NULL means
--     "not set" (zero time.Time).
--   * Durations are bigint microseconds.
--   * Patient data (participants.full_name, participants.email) is stored
--     only as AES-256-GCM ciphertext (Keyring.Seal, the field name bound as
--     additional data); email_blind is an HMAC (Keyring.Blind) of the
--     lower-cased email for equality look-ups. No plaintext name or email is
--     ever written to this database.

-- +goose Up

-- One row per teleconsultation (teleconsult.Teleconsultation).
CREATE TABLE teleconsultations (
    id                    text        NOT NULL PRIMARY KEY,   -- random 128-bit hex, no patient data
    appointment_id        text,                               -- booking system's id, NULL when none
    start_date            timestamptz NOT NULL,
    end_date              timestamptz NOT NULL,
    expected_participants integer     NOT NULL,               -- participants.number
    provider              text        NOT NULL,               -- video provider name (VIDEO_PROVIDER)
    provider_room_id      text        NOT NULL DEFAULT '',    -- '' until the room is made
    -- stored state, State.String(): open and expired are derived, never stored
    state                 text        NOT NULL CHECK (state IN ('waiting_for_participants', 'scheduled',
                                      'in_progress', 'ended', 'cancelled', 'replaced')),
    version               integer     NOT NULL CHECK (version >= 1), -- optimistic locking
    room_revision         integer     NOT NULL DEFAULT 0,
    replaced_by           text,                               -- id of the successor, no FK (written before it exists)
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    call_started_at       timestamptz,                        -- set while a call runs
    call_used_us          bigint      NOT NULL DEFAULT 0      -- sum of ended calls, microseconds
);

-- At most one live (neither cancelled nor replaced) teleconsultation per
-- appointment: of two concurrent creates for one appointment only one can
-- commit (the other gets a unique violation, 23505). Also the index behind
-- FindByAppointment (same predicate).
CREATE UNIQUE INDEX teleconsultations_live_appointment
    ON teleconsultations (appointment_id)
    WHERE state NOT IN ('cancelled', 'replaced');

-- CountByState (metrics).
CREATE INDEX teleconsultations_state ON teleconsultations (state);

-- The participants of a teleconsultation, removed ones included, in the order
-- they were given (ordinal). Rewritten as a whole on every update.
CREATE TABLE participants (
    teleconsultation_id text    NOT NULL REFERENCES teleconsultations (id) ON DELETE CASCADE,
    ordinal             integer NOT NULL,                     -- position in Teleconsultation.Participants
    user_id             text    NOT NULL,                     -- external user id
    groups_json         text    NOT NULL DEFAULT '[]',        -- JSON array of group names
    full_name           bytea,                                -- Seal("participant.full_name", ...), NULL when empty
    email               bytea,                                -- Seal("participant.email", ...), NULL when none
    email_blind         bytea,                                -- Blind("participant.email", lower(email)), NULL when none
    language            text    NOT NULL DEFAULT '',
    time_zone           text    NOT NULL DEFAULT '',
    role                text    NOT NULL CHECK (role IN ('unknown', 'basic', 'plus')),
    provider_user_id    text    NOT NULL DEFAULT '',          -- from user_map
    link_nonce          bytea,                                -- personal link nonce (the code needs the key)
    link_hash           bytea,                                -- SHA-256 of the personal link code
    removed_at          timestamptz,                          -- set when removed: the link is dead
    PRIMARY KEY (teleconsultation_id, ordinal),
    UNIQUE (teleconsultation_id, user_id)
);

-- FindByLinkHash; a link code belongs to exactly one participant.
CREATE UNIQUE INDEX participants_link_hash ON participants (link_hash);

-- Equality look-ups by email (through the blind index only).
CREATE INDEX participants_email_blind ON participants (email_blind) WHERE email_blind IS NOT NULL;

-- The user-id map: external user id -> provider user id, per provider
-- (seed 2's Kaleyra user-id map). The first writer wins; rows never change.
CREATE TABLE user_map (
    provider         text        NOT NULL,
    user_id          text        NOT NULL,
    provider_user_id text        NOT NULL,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (provider, user_id)
);

-- +goose Down
DROP TABLE user_map;
DROP TABLE participants;
DROP TABLE teleconsultations;

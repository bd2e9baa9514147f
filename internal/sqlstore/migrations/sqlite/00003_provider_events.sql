-- Hosted video providers (Daily, Kaleyra), SQLite dialect (the PostgreSQL
-- twin is migrations/postgres/00003_provider_events.sql; keep the two in
-- step). Numbered 00003 so that it does not collide with 00002 of the
-- invitations work.

-- +goose Up

-- The room's address at the provider (Daily), '' when it has none.
ALTER TABLE teleconsultations ADD COLUMN provider_room_url TEXT NOT NULL DEFAULT '';

-- The participant's own link into the provider's room (Kaleyra), a
-- credential: only Seal("participant.provider_link", ...), NULL when none.
ALTER TABLE participants ADD COLUMN provider_link BLOB;

-- FindByProviderRoom: the teleconsultation a webhook's room belongs to.
CREATE INDEX teleconsultations_provider_room
    ON teleconsultations (provider, provider_room_id)
    WHERE provider_room_id <> '';

-- Webhook events already handled, by the provider's event id: a replayed
-- event has no second effect. Rows older than a week are pruned.
CREATE TABLE provider_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX provider_events_received ON provider_events (received_at);

-- Who is in a provider's room (LIVE_TELECONSULTATION): one row per
-- participant session; present = 0 once it left, so that a join reported
-- after its leave does not count. Cleared when the meeting ends.
CREATE TABLE provider_presence (
    provider   TEXT    NOT NULL,
    room_id    TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    present    INTEGER NOT NULL CHECK (present IN (0, 1)),
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (provider, room_id, session_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX provider_presence_updated ON provider_presence (updated_at);

-- +goose Down
DROP TABLE provider_presence;
DROP TABLE provider_events;
DROP INDEX teleconsultations_provider_room;
ALTER TABLE participants DROP COLUMN provider_link;
ALTER TABLE teleconsultations DROP COLUMN provider_room_url;

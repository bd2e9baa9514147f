-- When the last call counted in call_used_us ended, SQLite dialect (the
-- PostgreSQL twin is migrations/postgres/00007_call_ended_at.sql). A
-- provider's call events (Daily's webhooks) may come late, twice under
-- different ids, or out of order: a start reported at or before this time
-- belongs to a call already counted, and an end at or before it changes
-- nothing, so no time is counted twice. NULL: no call ended yet.

-- +goose Up
ALTER TABLE teleconsultations ADD COLUMN call_ended_at TEXT;

-- +goose Down
ALTER TABLE teleconsultations DROP COLUMN call_ended_at;

-- When the first call of a teleconsultation began, PostgreSQL dialect (the
-- SQLite twin is migrations/sqlite/00010_call_first_started_at.sql): the
-- start of its FHIR Encounter's period, kept after its calls end, when
-- call_started_at is cleared. NULL: no call yet.

-- +goose Up
ALTER TABLE teleconsultations ADD COLUMN call_first_started_at timestamptz;

-- +goose Down
ALTER TABLE teleconsultations DROP COLUMN call_first_started_at;

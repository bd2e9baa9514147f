-- When the first call of a teleconsultation began, SQLite dialect (the
-- PostgreSQL twin is migrations/postgres/00010_call_first_started_at.sql):
-- the start of its FHIR Encounter's period, kept after its calls end,
-- when call_started_at is cleared. NULL: no call yet.

-- +goose Up
ALTER TABLE teleconsultations ADD COLUMN call_first_started_at TEXT;

-- +goose Down
ALTER TABLE teleconsultations DROP COLUMN call_first_started_at;

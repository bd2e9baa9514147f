-- Company background images (Mia's POST /settings/background-image, PATCH
-- /settings/update), PostgreSQL dialect; the SQLite twin is
-- migrations/sqlite/00014_backgrounds.sql.
-- An image is the company's, not patient data: stored as sent, with its
-- SHA-256 to catch a damaged row. It lives in the database (at most 10 MiB)
-- so that every replica serves it.

-- +goose Up
CREATE TABLE backgrounds (
    alias        text        NOT NULL PRIMARY KEY,            -- random 128-bit hex
    content_type text        NOT NULL,
    width        integer     NOT NULL CHECK (width > 0),
    height       integer     NOT NULL CHECK (height > 0),
    size         bigint      NOT NULL CHECK (size > 0),
    sha256       bytea       NOT NULL,
    data         bytea       NOT NULL,
    created_at   timestamptz NOT NULL
);
-- One row: the company's settings.
CREATE TABLE company_settings (
    id                 integer NOT NULL PRIMARY KEY CHECK (id = 1),
    default_background text    REFERENCES backgrounds (alias)
);

-- +goose Down
DROP TABLE company_settings;
DROP TABLE backgrounds;

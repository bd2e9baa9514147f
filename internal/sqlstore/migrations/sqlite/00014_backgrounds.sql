-- Company background images (Mia's POST /settings/background-image, PATCH
-- /settings/update), SQLite dialect; the PostgreSQL twin is
-- migrations/postgres/00014_backgrounds.sql.
-- An image is the company's, not patient data: stored as sent, with its
-- SHA-256 to catch a damaged row. It lives in the database (at most 10 MiB)
-- so that every replica serves it.

-- +goose Up
CREATE TABLE backgrounds (
    alias        TEXT    NOT NULL PRIMARY KEY,                -- random 128-bit hex
    content_type TEXT    NOT NULL,
    width        INTEGER NOT NULL CHECK (width > 0),
    height       INTEGER NOT NULL CHECK (height > 0),
    size         INTEGER NOT NULL CHECK (size > 0),
    sha256       BLOB    NOT NULL,
    data         BLOB    NOT NULL,
    created_at   TEXT    NOT NULL
) STRICT;
-- One row: the company's settings.
CREATE TABLE company_settings (
    id                 INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    default_background TEXT    REFERENCES backgrounds (alias)
) STRICT;

-- +goose Down
DROP TABLE company_settings;
DROP TABLE backgrounds;

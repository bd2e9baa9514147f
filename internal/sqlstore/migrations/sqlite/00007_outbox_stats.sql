-- The messages not sent, for OutboxStats (the metrics read it at every
-- scrape): a partial index, so that counting them costs what they are, not
-- the whole outbox of sent messages. Same text in both dialects.

-- +goose Up
CREATE INDEX outbox_unsent ON outbox (status, kind, created_at) WHERE status <> 'sent';

-- +goose Down
DROP INDEX outbox_unsent;

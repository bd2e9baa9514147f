-- Look-up of a user's participations by external user id (KnownUser: POST
-- /credentials is for users known to the service), sqlite dialect; the twin is
-- migrations/postgres/00006_participants_user.sql.
-- The user id is the integrator's id, not patient data, and is stored as is.

-- +goose Up
CREATE INDEX participants_user_active ON participants (user_id) WHERE removed_at IS NULL;

-- +goose Down
DROP INDEX participants_user_active;

-- The web app: a session or API token acts in one of its user's roles; failed logins are
-- counted per user name to throttle password guessing.
ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT '';

CREATE TABLE login_failures (
    id        BIGSERIAL PRIMARY KEY,
    username  TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX login_failures_by_user ON login_failures (username, failed_at);
CREATE INDEX outbox_unsent ON outbox (sent_at, id);

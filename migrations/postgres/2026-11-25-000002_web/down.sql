DROP INDEX outbox_unsent;
DROP TABLE login_failures;
ALTER TABLE api_tokens DROP COLUMN role;
ALTER TABLE sessions DROP COLUMN role;

-- API tokens expire: `expires_at` is the service clock's fixed-width UTC text
-- (YYYY-MM-DDTHH:MM:SS.mmmZ) so it compares as text. Tokens issued before this migration have
-- no expiry recorded and are refused as expired (fail closed): their holders ask for new ones.
-- `last_used_at` is when a request last carried the token (the account page shows it).
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT;
CREATE INDEX api_tokens_by_user ON api_tokens (username, created_at);

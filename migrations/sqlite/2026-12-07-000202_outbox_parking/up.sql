-- Outbox delivery that one bad message cannot stop: a message that fails for good (a bad
-- address, an SMTP 5xx) is parked with its reason; one that fails for now (an SMTP 4xx, a refused
-- connection) is tried again after an exponential backoff. Times are UTC, fixed width
-- (YYYY-MM-DDTHH:MM:SS.mmmZ), so they compare as text.
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN parked_at TEXT;

-- An admin's password reset: the user must choose a new password at their next login. Set by
-- the reset (web page or `bayestrial user reset-password`), cleared by the user's own change.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;

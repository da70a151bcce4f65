-- bayestrial schema, SQLite. Timestamps are UTC RFC 3339 text; JSON is text.
-- Tables with a text or composite primary key are WITHOUT ROWID: each is its primary-key
-- B-tree, so an insert writes one tree instead of a table and an index.

CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    printed_name  TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE user_roles (
    username TEXT NOT NULL REFERENCES users (username),
    role     TEXT NOT NULL CHECK (role IN ('admin', 'statistician', 'coordinator', 'dmc', 'regulator')),
    PRIMARY KEY (username, role)
) WITHOUT ROWID;

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    username   TEXT NOT NULL REFERENCES users (username),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    username   TEXT NOT NULL REFERENCES users (username),
    label      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) WITHOUT ROWID;

CREATE TABLE trials (
    id              TEXT PRIMARY KEY NOT NULL,
    title           TEXT NOT NULL,
    design          TEXT NOT NULL,
    seed_hex        TEXT NOT NULL,
    seed_commitment TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users (username),
    created_at      TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE protocol_versions (
    trial_id   TEXT NOT NULL REFERENCES trials (id),
    version    INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    source     TEXT NOT NULL,
    note       TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (username),
    created_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, version)
) WITHOUT ROWID;

CREATE TABLE signatures (
    system_seq    BIGINT PRIMARY KEY NOT NULL,
    trial_id      TEXT NOT NULL REFERENCES trials (id),
    version       INTEGER NOT NULL,
    protocol_hash TEXT NOT NULL,
    meaning       TEXT NOT NULL CHECK (meaning IN ('authorship', 'approval', 'review')),
    username      TEXT NOT NULL REFERENCES users (username),
    printed_name  TEXT NOT NULL,
    signed_at     TEXT NOT NULL
);

-- The audit trail: one hash chain per trial (chain = 'trial:<id>') and the system chain.
CREATE TABLE audit_events (
    chain       TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    reason      TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
    chain      TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    purpose    TEXT NOT NULL,
    head_hash  TEXT NOT NULL,
    signed_at  TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (chain, seq, purpose)
) WITHOUT ROWID;

-- Read projections, rebuilt from the events in the same transaction that appends them.
-- A participant and their assignment, written by the one command that enrols and randomises.
-- Subject ids are unique per trial by the engine's rule (under the trial's write lock).
CREATE TABLE participants (
    trial_id      TEXT NOT NULL REFERENCES trials (id),
    participant   INTEGER NOT NULL,
    subject_id    TEXT NOT NULL,
    arm           TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    draw          DOUBLE PRECISION NOT NULL,
    probabilities TEXT NOT NULL,
    enrolled_by   TEXT NOT NULL,
    enrolled_at   TEXT NOT NULL,
    PRIMARY KEY (trial_id, participant)
) WITHOUT ROWID;

CREATE TABLE outcomes (
    trial_id    TEXT NOT NULL REFERENCES trials (id),
    seq         BIGINT NOT NULL,
    participant INTEGER NOT NULL,
    value       TEXT NOT NULL,
    corrects    BIGINT,
    reason      TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, seq)
) WITHOUT ROWID;

CREATE TABLE looks (
    trial_id TEXT NOT NULL REFERENCES trials (id),
    look     INTEGER NOT NULL,
    seq      BIGINT NOT NULL,
    outcomes INTEGER NOT NULL,
    enrolled INTEGER NOT NULL,
    analysis TEXT NOT NULL,
    PRIMARY KEY (trial_id, look)
) WITHOUT ROWID;

CREATE TABLE arm_status (
    trial_id   TEXT NOT NULL REFERENCES trials (id),
    arm        TEXT NOT NULL,
    status     TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (trial_id, arm)
) WITHOUT ROWID;

CREATE TABLE trial_status (
    trial_id   TEXT PRIMARY KEY NOT NULL REFERENCES trials (id),
    status     TEXT NOT NULL,
    changed_at BIGINT NOT NULL
) WITHOUT ROWID;

-- A retried enrolment returns the first answer.
CREATE TABLE idempotency_keys (
    trial_id   TEXT NOT NULL REFERENCES trials (id),
    key        TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, key)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id   TEXT,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at    TEXT
);

-- Append-only: nothing may change or remove an audit record, a checkpoint or a signature.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only'); END;
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures is append-only'); END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures is append-only'); END;
CREATE TRIGGER protocol_versions_no_update BEFORE UPDATE ON protocol_versions
BEGIN SELECT RAISE(ABORT, 'protocol_versions is append-only'); END;
CREATE TRIGGER protocol_versions_no_delete BEFORE DELETE ON protocol_versions
BEGIN SELECT RAISE(ABORT, 'protocol_versions is append-only'); END;

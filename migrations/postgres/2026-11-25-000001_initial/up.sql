-- bayestrial schema, PostgreSQL. Timestamps are UTC RFC 3339 text; JSON is text.

CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    printed_name  TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TEXT NOT NULL
);

CREATE TABLE user_roles (
    username TEXT NOT NULL REFERENCES users (username),
    role     TEXT NOT NULL CHECK (role IN ('admin', 'statistician', 'coordinator', 'dmc', 'regulator')),
    PRIMARY KEY (username, role)
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    username   TEXT NOT NULL REFERENCES users (username),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    username   TEXT NOT NULL REFERENCES users (username),
    label      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE trials (
    id              TEXT PRIMARY KEY NOT NULL,
    title           TEXT NOT NULL,
    design          TEXT NOT NULL,
    seed_hex        TEXT NOT NULL,
    seed_commitment TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users (username),
    created_at      TEXT NOT NULL
);

CREATE TABLE protocol_versions (
    trial_id   TEXT NOT NULL REFERENCES trials (id),
    version    INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    source     TEXT NOT NULL,
    note       TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (username),
    created_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, version)
);

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
);

CREATE TABLE checkpoints (
    chain      TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    purpose    TEXT NOT NULL,
    head_hash  TEXT NOT NULL,
    signed_at  TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (chain, seq, purpose)
);

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
);

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
);

CREATE TABLE looks (
    trial_id TEXT NOT NULL REFERENCES trials (id),
    look     INTEGER NOT NULL,
    seq      BIGINT NOT NULL,
    outcomes INTEGER NOT NULL,
    enrolled INTEGER NOT NULL,
    analysis TEXT NOT NULL,
    PRIMARY KEY (trial_id, look)
);

CREATE TABLE arm_status (
    trial_id   TEXT NOT NULL REFERENCES trials (id),
    arm        TEXT NOT NULL,
    status     TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (trial_id, arm)
);

CREATE TABLE trial_status (
    trial_id   TEXT PRIMARY KEY NOT NULL REFERENCES trials (id),
    status     TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);

-- A retried enrolment returns the first answer.
CREATE TABLE idempotency_keys (
    trial_id   TEXT NOT NULL REFERENCES trials (id),
    key        TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, key)
);

CREATE TABLE outbox (
    id         BIGSERIAL PRIMARY KEY,
    trial_id   TEXT,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at    TEXT
);

-- Append-only: nothing may change or remove an audit record, a checkpoint or a signature.
-- ENABLE ALWAYS: the triggers fire even for sessions in replication mode.
CREATE FUNCTION bayestrial_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION bayestrial_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION bayestrial_append_only();
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_append_only;
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_truncate;
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION bayestrial_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION bayestrial_append_only();
ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER checkpoints_append_only;
ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER checkpoints_no_truncate;
CREATE TRIGGER signatures_append_only BEFORE UPDATE OR DELETE ON signatures
    FOR EACH ROW EXECUTE FUNCTION bayestrial_append_only();
CREATE TRIGGER signatures_no_truncate BEFORE TRUNCATE ON signatures
    FOR EACH STATEMENT EXECUTE FUNCTION bayestrial_append_only();
ALTER TABLE signatures ENABLE ALWAYS TRIGGER signatures_append_only;
ALTER TABLE signatures ENABLE ALWAYS TRIGGER signatures_no_truncate;
CREATE TRIGGER protocol_versions_append_only BEFORE UPDATE OR DELETE ON protocol_versions
    FOR EACH ROW EXECUTE FUNCTION bayestrial_append_only();
CREATE TRIGGER protocol_versions_no_truncate BEFORE TRUNCATE ON protocol_versions
    FOR EACH STATEMENT EXECUTE FUNCTION bayestrial_append_only();
ALTER TABLE protocol_versions ENABLE ALWAYS TRIGGER protocol_versions_append_only;
ALTER TABLE protocol_versions ENABLE ALWAYS TRIGGER protocol_versions_no_truncate;

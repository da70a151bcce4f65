-- A trial's witnesses: the addresses (the DMC chair, the sponsor…) that receive each signed head
-- of the trial's chain by e-mail, so that a copy lives outside the database.
CREATE TABLE trial_witnesses (
    trial_id   TEXT NOT NULL REFERENCES trials (id),
    email      TEXT NOT NULL,
    added_by   TEXT NOT NULL,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (trial_id, email)
);

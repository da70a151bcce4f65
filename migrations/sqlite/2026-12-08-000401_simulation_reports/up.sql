-- Simulation reports that justify a protocol version: what was simulated (the trial, the exact
-- protocol version and its hash, the scenario, the seed, the replicates), who ran it and when
-- (UTC, fixed width), and the report itself (the simulator's JSON result and the rendered
-- HTML page, which the simulator renders byte for byte again from the same version, scenario,
-- seed and replicates). Numbered per trial; rows are never changed or deleted. The seed is a
-- 64-bit unsigned integer, kept as its decimal text.
CREATE TABLE simulation_reports (
    trial_id      TEXT NOT NULL,
    number        BIGINT NOT NULL,
    version       INTEGER NOT NULL,
    protocol_hash TEXT NOT NULL,
    scenario      TEXT NOT NULL,
    seed          TEXT NOT NULL,
    reps          BIGINT NOT NULL CHECK (reps > 0),
    ran_by        TEXT NOT NULL REFERENCES users (username),
    ran_at        TEXT NOT NULL,
    summary       TEXT NOT NULL,
    result_json   TEXT NOT NULL,
    report_html   TEXT NOT NULL,
    PRIMARY KEY (trial_id, number),
    FOREIGN KEY (trial_id, version) REFERENCES protocol_versions (trial_id, version)
);
CREATE INDEX simulation_reports_by_version ON simulation_reports (trial_id, version);
CREATE TRIGGER simulation_reports_no_update BEFORE UPDATE ON simulation_reports
BEGIN SELECT RAISE(ABORT, 'simulation_reports is append-only'); END;
CREATE TRIGGER simulation_reports_no_delete BEFORE DELETE ON simulation_reports
BEGIN SELECT RAISE(ABORT, 'simulation_reports is append-only'); END;

-- Record format 2: each record of a trial chain begun from now on carries a secret salt derived
-- from the trial's seed, which its hash covers (METHODS.md §10). NULL for the records of record
-- format 1 (the system chain and the trial chains begun before), which hash as they always did.
-- Adding a column updates no row, so the append-only triggers stay as they are and still apply.
ALTER TABLE audit_events ADD COLUMN salt TEXT
    CHECK (salt IS NULL OR (length(salt) = 64 AND salt NOT GLOB '*[^0-9a-f]*'));

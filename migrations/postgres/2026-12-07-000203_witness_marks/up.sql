-- The last head of each chain sent to its witnesses (the witness log and the witnesses' mail):
-- the daily witness sends a running trial's head when its chain has grown past this one and it
-- was sent more than a day ago. Times are UTC, fixed width (YYYY-MM-DDTHH:MM:SS.mmmZ).
CREATE TABLE witness_marks (
    chain TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    witnessed_at TEXT NOT NULL
);

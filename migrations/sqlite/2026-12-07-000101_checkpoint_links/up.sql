-- Each checkpoint names the seq of its chain's previous checkpoint (0 for the first), and signs
-- that link: deleting a checkpoint in the middle breaks the next one's link. NULL for the
-- checkpoints signed before this column existed (format 1, verified without a link).
ALTER TABLE checkpoints ADD COLUMN previous BIGINT;

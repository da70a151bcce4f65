ALTER TABLE checkpoints DROP COLUMN previous;

DROP TABLE witness_marks;

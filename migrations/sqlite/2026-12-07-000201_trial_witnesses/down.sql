DROP TABLE trial_witnesses;

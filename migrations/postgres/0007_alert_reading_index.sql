-- A full refresh stamps every product's new reading with one change number. An evaluation that
-- follows it reads those readings by that number in one range of this index (on PostgreSQL, with
-- hash joins) instead of looking each up by product.
CREATE INDEX trend_scores_seq_idx ON trend_scores (alerts_seq);

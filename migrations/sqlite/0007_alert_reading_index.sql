-- A full refresh stamps every product's new reading with one change number. On PostgreSQL, an
-- evaluation that follows it reads those readings by that number in one range of this index (with
-- hash joins) instead of looking each up by product. SQLite carries it too, as both backends'
-- migrations are kept alike, and its planner keeps using (product_id, alerts_seq).
CREATE INDEX trend_scores_seq_idx ON trend_scores (alerts_seq);

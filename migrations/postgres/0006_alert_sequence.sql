-- Alert evaluation follows one change sequence instead of a counter per product: a write that
-- changes what rules read (a refresh, a recorded score) stamps the products and readings it
-- writes with the next number, and an evaluation reads what is stamped after the number it
-- last reached, then moves one cursor. Writing one row per evaluation instead of one per
-- product is what keeps an evaluation of 10,000 watches short. Portable types only (see 0001).
ALTER TABLE products ADD COLUMN alerts_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trend_scores ADD COLUMN alerts_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX products_alerts_seq_idx ON products (alerts_seq);
-- A reading carries the score before it and the score one default jump window (24 h) before it
-- (the product's first score when it is younger), taken when it is written: they never change,
-- and an evaluation then reads them instead of searching the history once per reading.
ALTER TABLE trend_scores ADD COLUMN previous_score DOUBLE PRECISION;
ALTER TABLE trend_scores ADD COLUMN base_score DOUBLE PRECISION;
CREATE INDEX trend_scores_alerts_seq_idx ON trend_scores (product_id, alerts_seq);
CREATE TABLE alert_cursor (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL
);
INSERT INTO alert_cursor (id, seq) VALUES (1, 0);

-- What the last evaluation had not seen yet is still to be seen.
UPDATE trend_scores SET alerts_seq = 1 WHERE EXISTS (SELECT 1 FROM products p WHERE p.id = trend_scores.product_id AND p.alerts_dirty > 0 AND trend_scores.id > p.alerts_score_id);
UPDATE products SET alerts_seq = 1 WHERE alerts_dirty > 0;
-- Those readings get the scores every reading now carries, as a refresh would have written them.
UPDATE trend_scores SET previous_score = (SELECT t.score FROM trend_scores t WHERE t.product_id = trend_scores.product_id AND t.id < trend_scores.id ORDER BY t.id DESC LIMIT 1), base_score = COALESCE((SELECT t.score FROM trend_scores t WHERE t.product_id = trend_scores.product_id AND t.calculated_at <= trend_scores.calculated_at - 86400000 ORDER BY t.calculated_at DESC LIMIT 1), (SELECT t.score FROM trend_scores t WHERE t.product_id = trend_scores.product_id AND t.id < trend_scores.id ORDER BY t.id LIMIT 1)) WHERE alerts_seq = 1;

DROP INDEX products_alerts_dirty_idx;
ALTER TABLE products DROP COLUMN alerts_dirty;
ALTER TABLE products DROP COLUMN alerts_score_id;

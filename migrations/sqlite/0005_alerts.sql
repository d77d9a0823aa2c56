-- Watchlist alerts: rules, what their evaluation remembers, stored alerts, webhooks and the
-- durable outbox every channel delivers from. Portable types only (see 0001).

-- What a refresh read at each point of a product's score history, so rules can judge stages
-- and forecasts as they were, not as they are now.
ALTER TABLE trend_scores ADD COLUMN stage TEXT;
ALTER TABLE trend_scores ADD COLUMN forecast_growth DOUBLE PRECISION;
-- Covering: the jump rule reads the score one window before each new reading.
CREATE INDEX trend_scores_product_time_idx ON trend_scores (product_id, calculated_at, score);

-- A refresh adds 1 per product it writes; an evaluation subtracts what it saw (so a refresh
-- committed meanwhile is evaluated next time), and remembers the last score read.
ALTER TABLE products ADD COLUMN alerts_dirty BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN alerts_score_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX products_alerts_dirty_idx ON products (alerts_dirty);
-- Interest per country as of the last refresh (`US:100 DE:55`), read with the dirty products.
ALTER TABLE products ADD COLUMN country_interest TEXT;

-- Rules: the user's defaults (NULL: the built-in ones), a watch's own (NULL: the user's);
-- JSON documents of `engine::alerts::AlertRules`.
ALTER TABLE users ADD COLUMN alert_rules TEXT;
-- Email: off, immediate or daily; the token of the unsubscribe link; the last digest's day.
ALTER TABLE users ADD COLUMN email_alerts TEXT NOT NULL DEFAULT 'off';
ALTER TABLE users ADD COLUMN unsubscribe_token TEXT;
ALTER TABLE users ADD COLUMN digest_day BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_unsubscribe_token_key ON users (unsubscribe_token);

-- Evaluation reads a product's watches.
CREATE INDEX watchlists_product_idx ON watchlists (product_id);
ALTER TABLE watchlists ADD COLUMN rules TEXT;
ALTER TABLE watchlists ADD COLUMN snoozed_until BIGINT;
-- JSON of `engine::alerts::RuleState`: streaks, armed rules, the confirmed stage, known countries.
ALTER TABLE watchlists ADD COLUMN rule_state TEXT NOT NULL DEFAULT '{}';

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    rule TEXT NOT NULL,
    -- One alert per event: the same event evaluated twice (a restart, a second instance) collides here.
    event_key TEXT NOT NULL,
    message TEXT NOT NULL,
    value_before DOUBLE PRECISION,
    value_after DOUBLE PRECISION,
    created_at BIGINT NOT NULL,
    read_at BIGINT,
    digested BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX alerts_event_key ON alerts (user_id, event_key);
CREATE INDEX alerts_user_idx ON alerts (user_id, id);
CREATE INDEX alerts_unread_idx ON alerts (user_id, read_at, id);

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    format TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_user_idx ON webhooks (user_id, id);

-- The outbox: one row per message to send. A lane (a webhook, a user's mailbox) is delivered in
-- id order; a worker leases a lane's head before sending, so one instance sends it.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    lane TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    webhook_id BIGINT REFERENCES webhooks (id) ON DELETE CASCADE,
    alert_id BIGINT REFERENCES alerts (id) ON DELETE CASCADE,
    payload TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX deliveries_pending_idx ON deliveries (status, lane, id);
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, id);

-- Portable types only (INTEGER/BIGINT, DOUBLE PRECISION, TEXT): times are Unix milliseconds,
-- flags are 0/1. The PostgreSQL migration of the same number declares the same columns.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    hashed_password TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Denormalised so /trending and /heat-map read an index instead of aggregating:
    -- kept in step by the same transactions that insert scores and ads.
    latest_score DOUBLE PRECISION,
    latest_score_at BIGINT,
    ad_count BIGINT NOT NULL DEFAULT 0,
    located_ad_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX products_latest_score_idx ON products (latest_score DESC, id);
CREATE INDEX products_located_ads_idx ON products (located_ad_count DESC, id);

CREATE TABLE ads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    ad_content TEXT NOT NULL,
    country TEXT,
    engagement_score BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ads_product_idx ON ads (product_id, id);
CREATE INDEX ads_viral_idx ON ads (engagement_score DESC, id DESC);

-- Ads per product and country, for the heat map.
CREATE TABLE product_country_ads (
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    country TEXT NOT NULL,
    ads BIGINT NOT NULL,
    PRIMARY KEY (product_id, country)
);

CREATE TABLE trend_scores (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    score DOUBLE PRECISION NOT NULL,
    ad_count BIGINT NOT NULL,
    calculated_at BIGINT NOT NULL
);
CREATE INDEX trend_scores_product_idx ON trend_scores (product_id, id);

CREATE TABLE watchlists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    seen_score_id BIGINT NOT NULL DEFAULT 0,
    seen_ad_id BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX watchlists_user_product_key ON watchlists (user_id, product_id);

CREATE TABLE refresh_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    family TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

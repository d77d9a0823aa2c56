-- The trend engine's inputs and outputs. Terms are JSON arrays of strings.
ALTER TABLE products ADD COLUMN keywords TEXT NOT NULL DEFAULT '[]';
ALTER TABLE products ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]';
ALTER TABLE products ADD COLUMN hashtags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE products ADD COLUMN negative_keywords TEXT NOT NULL DEFAULT '[]';
-- Set in the same transaction as a change of terms, cleared once the product's
-- history has been matched again: a restart half-way loses nothing.
ALTER TABLE products ADD COLUMN rematch_pending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN terms_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN is_demo BIGINT NOT NULL DEFAULT 0;
-- The latest trend report (JSON) and the figures lists filter and sort on.
ALTER TABLE products ADD COLUMN stage TEXT;
ALTER TABLE products ADD COLUMN change_7d DOUBLE PRECISION;
ALTER TABLE products ADD COLUMN attention_7d DOUBLE PRECISION;
ALTER TABLE products ADD COLUMN report TEXT;
ALTER TABLE products ADD COLUMN report_at BIGINT;
-- Start of the last day the product had any attention.
ALTER TABLE products ADD COLUMN active_at BIGINT;
CREATE INDEX products_stage_idx ON products (stage, latest_score DESC, id);
CREATE INDEX products_rematch_idx ON products (rematch_pending);

-- Which content is about which product.
CREATE TABLE content_products (
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    content_id BIGINT NOT NULL REFERENCES contents (id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, content_id)
);
CREATE INDEX content_products_content_idx ON content_products (content_id);

-- Interest by country and by region, 0-100 relative to the product's hottest
-- place at the same level, as of the last refresh.
CREATE TABLE product_places (
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    level TEXT NOT NULL,
    place TEXT NOT NULL,
    attention DOUBLE PRECISION NOT NULL,
    interest BIGINT NOT NULL,
    PRIMARY KEY (product_id, level, place)
);
CREATE INDEX contents_first_seen_idx ON contents (first_seen_at);
CREATE INDEX product_places_place_idx ON product_places (level, place, interest DESC);

-- Attention by platform over the last 7 days, as of the last refresh.
CREATE TABLE product_platforms (
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    attention_7d DOUBLE PRECISION NOT NULL,
    share DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (product_id, platform)
);
CREATE INDEX product_platforms_platform_idx ON product_platforms (platform, attention_7d DESC);

-- What is normal on each platform, learned at each full refresh.
CREATE TABLE platform_norms (
    platform TEXT PRIMARY KEY,
    engagement_rate DOUBLE PRECISION NOT NULL,
    views DOUBLE PRECISION NOT NULL,
    ad_growth DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Ads seen in observations join the brief's ads table, scored by how fast they grow.
ALTER TABLE ads ADD COLUMN content_id BIGINT REFERENCES contents (id) ON DELETE CASCADE;
ALTER TABLE ads ADD COLUMN advertiser TEXT;
ALTER TABLE ads ADD COLUMN url TEXT;
ALTER TABLE ads ADD COLUMN running_since BIGINT;
CREATE UNIQUE INDEX ads_content_key ON ads (content_id, product_id);
CREATE INDEX ads_platform_idx ON ads (platform, engagement_score DESC, id DESC);

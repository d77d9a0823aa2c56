-- Observations: one piece of content (post, video, ad) per platform, and a metric snapshot each
-- time it is seen. Ingest is idempotent on (platform, platform_id, observed_at).
CREATE TABLE contents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT,
    author TEXT,
    text TEXT,
    -- Lower-case hashtags without '#', separated by single spaces.
    hashtags TEXT,
    country TEXT,
    language TEXT,
    published_at BIGINT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX contents_platform_key ON contents (platform, platform_id);
CREATE INDEX contents_last_seen_idx ON contents (last_seen_at);

CREATE TABLE snapshots (
    content_id BIGINT NOT NULL REFERENCES contents (id) ON DELETE CASCADE,
    observed_at BIGINT NOT NULL,
    views BIGINT,
    impressions_lower BIGINT,
    impressions_upper BIGINT,
    likes BIGINT,
    comments BIGINT,
    shares BIGINT,
    spend_lower DOUBLE PRECISION,
    spend_upper DOUBLE PRECISION,
    PRIMARY KEY (content_id, observed_at)
);
CREATE INDEX snapshots_observed_idx ON snapshots (observed_at);

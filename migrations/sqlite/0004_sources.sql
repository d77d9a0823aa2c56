-- Configured sources of observations, and the scans that read them.
CREATE TABLE sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    -- JSON arrays of strings.
    query TEXT NOT NULL,
    countries TEXT NOT NULL DEFAULT '[]',
    every_minutes BIGINT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    base_url TEXT,
    -- Pages fetched per scan at most.
    max_pages BIGINT NOT NULL DEFAULT 10,
    -- A rate limit or a spent quota pauses the source until then, saying why.
    paused_until BIGINT,
    pause_reason TEXT,
    -- When the last scan started; the next is due every_minutes later.
    last_scan_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One run of a source. A running scan holds a lease: the instance running it
-- renews it; when it lapses (the instance died) the scan is marked abandoned
-- and its source is due again. Counters are updated after every stored page,
-- so a crash loses nothing already stored and nothing is counted twice.
CREATE TABLE scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id BIGINT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    window_from BIGINT NOT NULL,
    window_to BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    pages BIGINT NOT NULL DEFAULT 0,
    items BIGINT NOT NULL DEFAULT 0,
    accepted BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    -- JSON array of {"at": ms, "code": ..., "message": ...}.
    errors TEXT NOT NULL DEFAULT '[]',
    -- The next page's cursor once a page is stored.
    cursor TEXT,
    products_refreshed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX scans_source_idx ON scans (source_id, id);
CREATE INDEX scans_status_idx ON scans (status, lease_until);

-- Search interest (Google Trends), 0-100 relative to the term's own peak.
CREATE TABLE search_interest (
    source_id BIGINT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    term TEXT NOT NULL,
    geo TEXT NOT NULL,
    day BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    observed_at BIGINT NOT NULL,
    PRIMARY KEY (source_id, term, geo, day)
);

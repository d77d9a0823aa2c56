-- Work that several instances would otherwise all do on their own schedule (the full refresh of
-- every product): each run is claimed here first, so one instance does it per period.
CREATE TABLE schedule (
    name TEXT PRIMARY KEY,
    last_at BIGINT NOT NULL
);
INSERT INTO schedule (name, last_at) VALUES ('full_refresh', 0);

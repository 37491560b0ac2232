-- Stream ownership between replicas (see the Postgres migration). SQLite runs
-- one replica per file (a lock file refuses a second process), so these tables
-- stay empty there; they exist so both dialects share one schema.

-- +goose Up
CREATE TABLE syncd_leases (
    stream     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE syncd_replicas (
    owner      TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE syncd_replicas;
DROP TABLE syncd_leases;

-- syncd's internal tables in the main database of the SQLite file.
-- Times are TEXT in RFC 3339 (UTC, fixed-width microseconds) so they sort.

-- +goose Up
CREATE TABLE syncd_checkpoints (
    stream         TEXT    PRIMARY KEY,
    url            TEXT    NOT NULL DEFAULT '',
    next_offset    TEXT    NOT NULL,
    up_to_date     INTEGER NOT NULL DEFAULT 0,
    closed         INTEGER NOT NULL DEFAULT 0,
    events_applied INTEGER NOT NULL DEFAULT 0,
    rejects        INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE syncd_types (
    type       TEXT PRIMARY KEY,
    table_name TEXT NOT NULL UNIQUE,
    -- 'global': the entity table's primary key is (key); 'stream': (stream, key).
    key_scope  TEXT NOT NULL DEFAULT 'global' CHECK (key_scope IN ('global', 'stream'))
);

CREATE TABLE syncd_rejects (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    stream          TEXT    NOT NULL,
    response_offset TEXT    NOT NULL,
    position        INTEGER NOT NULL,
    raw             BLOB    NOT NULL,
    reason          TEXT    NOT NULL,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX syncd_rejects_stream_idx ON syncd_rejects (stream, id);

CREATE TABLE syncd_txids (
    stream       TEXT NOT NULL,
    txid         TEXT NOT NULL,
    next_offset  TEXT NOT NULL,
    committed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (stream, txid)
) WITHOUT ROWID;
CREATE INDEX syncd_txids_txid_idx ON syncd_txids (txid);

-- +goose Down
DROP TABLE syncd_txids;
DROP TABLE syncd_rejects;
DROP TABLE syncd_types;
DROP TABLE syncd_checkpoints;

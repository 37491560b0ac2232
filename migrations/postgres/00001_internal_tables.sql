-- syncd's internal tables. The sink runs this with search_path set to the
-- configured schema (SYNCD_SCHEMA), so every table lands there.

-- +goose Up
CREATE TABLE syncd_checkpoints (
    stream         text        PRIMARY KEY,
    url            text        NOT NULL DEFAULT '',
    next_offset    text        NOT NULL,
    up_to_date     boolean     NOT NULL DEFAULT false,
    closed         boolean     NOT NULL DEFAULT false,
    events_applied bigint      NOT NULL DEFAULT 0,
    rejects        bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE syncd_types (
    type       text PRIMARY KEY,
    table_name text NOT NULL UNIQUE,
    -- 'global': the entity table's primary key is (key); 'stream': (stream, key).
    key_scope  text NOT NULL DEFAULT 'global' CHECK (key_scope IN ('global', 'stream'))
);

CREATE TABLE syncd_rejects (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream          text        NOT NULL,
    response_offset text        NOT NULL,
    position        integer     NOT NULL,
    raw             bytea       NOT NULL,
    reason          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX syncd_rejects_stream_idx ON syncd_rejects (stream, id);

CREATE TABLE syncd_txids (
    stream       text        NOT NULL,
    txid         text        NOT NULL,
    next_offset  text        NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, txid)
);
CREATE INDEX syncd_txids_txid_idx ON syncd_txids (txid);

-- +goose Down
DROP TABLE syncd_txids;
DROP TABLE syncd_rejects;
DROP TABLE syncd_types;
DROP TABLE syncd_checkpoints;

-- syncd's internal tables on MySQL 8.0.19+ and MariaDB 10.6+, in the database
-- named by SYNCD_DATABASE_URL. Text that is compared (stream names, offsets,
-- types, txids) uses a binary collation, so comparisons are exact. Primary
-- keys stay within InnoDB's 3,072-byte index limit with utf8mb4 (4 bytes a
-- character): stream names up to 255 characters, types up to 768, txids up
-- to 512. Times are DATETIME(6) in UTC (every connection sets time_zone to
-- +00:00). MySQL commits DDL implicitly, so each statement here stands alone
-- and goose records the version after the last one.

-- +goose Up
CREATE TABLE syncd_checkpoints (
    stream         VARCHAR(255) NOT NULL PRIMARY KEY,
    url            TEXT         NOT NULL,
    next_offset    TEXT         NOT NULL,
    up_to_date     BOOLEAN      NOT NULL DEFAULT FALSE,
    closed         BOOLEAN      NOT NULL DEFAULT FALSE,
    events_applied BIGINT       NOT NULL DEFAULT 0,
    rejects        BIGINT       NOT NULL DEFAULT 0,
    updated_at     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    halted         TEXT         NOT NULL DEFAULT ('')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE syncd_types (
    type       VARCHAR(768) NOT NULL PRIMARY KEY,
    table_name VARCHAR(64)  NOT NULL UNIQUE,
    -- 'global': the entity table's primary key is (key); 'stream': (stream, key).
    key_scope  VARCHAR(6)   NOT NULL DEFAULT 'global' CHECK (key_scope IN ('global', 'stream'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE syncd_rejects (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    stream          VARCHAR(255) NOT NULL,
    response_offset TEXT         NOT NULL,
    position        INT          NOT NULL,
    raw             LONGBLOB     NOT NULL,
    reason          TEXT         NOT NULL,
    created_at      DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX syncd_rejects_stream_idx (stream, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE syncd_txids (
    stream       VARCHAR(255) NOT NULL,
    txid         VARCHAR(512) NOT NULL,
    next_offset  TEXT         NOT NULL,
    committed_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (stream, txid),
    INDEX syncd_txids_txid_idx (txid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Typed columns from the SYNCD_CONFIG file: each generated column syncd
-- added to an entity table, with the definition it used.
CREATE TABLE syncd_columns (
    table_name  VARCHAR(64) NOT NULL,
    column_name VARCHAR(64) NOT NULL,
    path        TEXT        NOT NULL,
    column_type VARCHAR(32) NOT NULL,
    definition  MEDIUMTEXT  NOT NULL,
    PRIMARY KEY (table_name, column_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Stream ownership between replicas (SYNCD_LEASES=on); expiries are the
-- database's UTC_TIMESTAMP(6) plus the TTL.
CREATE TABLE syncd_leases (
    stream     VARCHAR(255) NOT NULL PRIMARY KEY,
    owner      VARCHAR(255) NOT NULL,
    expires_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE syncd_replicas (
    owner      VARCHAR(255) NOT NULL PRIMARY KEY,
    expires_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE syncd_replicas;
DROP TABLE syncd_leases;
DROP TABLE syncd_columns;
DROP TABLE syncd_txids;
DROP TABLE syncd_rejects;
DROP TABLE syncd_types;
DROP TABLE syncd_checkpoints;

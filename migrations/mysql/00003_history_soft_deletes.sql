-- Per-type options of the SYNCD_CONFIG file (issue 15), as on Postgres:
-- history_table names the type's history table once history was turned on
-- (kept when it is turned off, so that `syncd reset STREAM` still removes the
-- stream's rows from it); soft_deletes says the entity table has deleted_at
-- and keeps deleted rows as tombstones.

-- +goose Up
ALTER TABLE syncd_types ADD COLUMN history_table VARCHAR(64) NULL UNIQUE;
ALTER TABLE syncd_types ADD COLUMN soft_deletes BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE syncd_types DROP COLUMN soft_deletes;
ALTER TABLE syncd_types DROP COLUMN history_table;

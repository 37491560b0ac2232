-- Per-type options of the SYNCD_CONFIG file (issue 15). history_table is the
-- name of the type's history table once history was turned on (kept when it
-- is turned off, so that `syncd reset STREAM` still removes the stream's
-- rows from it); soft_deletes says the entity table has deleted_at and keeps
-- deleted rows as tombstones.

-- +goose Up
ALTER TABLE syncd_types ADD COLUMN history_table text UNIQUE;
ALTER TABLE syncd_types ADD COLUMN soft_deletes boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE syncd_types DROP COLUMN soft_deletes;
ALTER TABLE syncd_types DROP COLUMN history_table;

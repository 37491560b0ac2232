-- Per-type options of the SYNCD_CONFIG file (see the Postgres migration).

-- +goose Up
ALTER TABLE syncd_types ADD COLUMN history_table TEXT;
ALTER TABLE syncd_types ADD COLUMN soft_deletes INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX syncd_types_history_table_idx ON syncd_types (history_table);

-- +goose Down
DROP INDEX syncd_types_history_table_idx;
ALTER TABLE syncd_types DROP COLUMN soft_deletes;
ALTER TABLE syncd_types DROP COLUMN history_table;

-- Typed columns from the SYNCD_CONFIG file. syncd_columns records each
-- generated column syncd added to an entity table, with the definition it
-- used, so that a restart can tell a changed mapping (drop and re-add) from
-- an unchanged one, and never touches columns it did not add.

-- +goose Up
CREATE TABLE syncd_columns (
    table_name  TEXT NOT NULL,
    column_name TEXT NOT NULL,
    path        TEXT NOT NULL,
    column_type TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (table_name, column_name)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE syncd_columns;

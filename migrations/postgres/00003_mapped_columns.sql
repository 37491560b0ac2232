-- Typed columns from the SYNCD_CONFIG file. syncd_columns records each
-- generated column syncd added to an entity table, with the definition it
-- used, so that a restart can tell a changed mapping (drop and re-add) from
-- an unchanged one, and never touches columns it did not add.
-- syncd_timestamptz is the safe text → timestamptz conversion of generated
-- columns: a cast from text is not immutable (it may read TimeZone and
-- DateStyle), so generated columns cannot use it directly. Only RFC 3339
-- texts with an explicit offset get through, which do not depend on either
-- setting; anything else, including impossible dates, is NULL.

-- +goose Up
CREATE TABLE syncd_columns (
    table_name  text NOT NULL,
    column_name text NOT NULL,
    path        text NOT NULL,
    column_type text NOT NULL,
    definition  text NOT NULL,
    PRIMARY KEY (table_name, column_name)
);

-- +goose StatementBegin
CREATE FUNCTION syncd_timestamptz(t text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    IF t !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,9})?([Zz]|[-+][0-9]{2}:[0-9]{2})$' THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN t::timestamptz;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION syncd_timestamptz(text);
DROP TABLE syncd_columns;

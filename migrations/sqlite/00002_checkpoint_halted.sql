-- Why a stream stopped (SYNCD_ON_INVALID=halt, 404, 410, ...), so that
-- `syncd status` in another process can show it. '' while the stream runs; the
-- next successful commit clears it.

-- +goose Up
ALTER TABLE syncd_checkpoints ADD COLUMN halted text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE syncd_checkpoints DROP COLUMN halted;

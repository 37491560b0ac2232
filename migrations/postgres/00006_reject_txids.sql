-- The txid of a dead-lettered event (headers.txid when the message has one),
-- so that /v1/txid/{txid} answers "rejected" at once instead of waiting for a
-- commit that will never come.

-- +goose Up
ALTER TABLE syncd_rejects ADD COLUMN txid text;
CREATE INDEX syncd_rejects_txid ON syncd_rejects (txid);

-- +goose Down
DROP INDEX syncd_rejects_txid;
ALTER TABLE syncd_rejects DROP COLUMN txid;

-- The txid of a dead-lettered event (headers.txid when the message has one),
-- so that /v1/txid/{txid} answers "rejected" at once instead of waiting for a
-- commit that will never come. VARCHAR(512) as in syncd_txids, so it can be
-- indexed within InnoDB's key limit.

-- +goose Up
ALTER TABLE syncd_rejects ADD COLUMN txid VARCHAR(512) NULL;
CREATE INDEX syncd_rejects_txid ON syncd_rejects (txid);

-- +goose Down
DROP INDEX syncd_rejects_txid ON syncd_rejects;
ALTER TABLE syncd_rejects DROP COLUMN txid;

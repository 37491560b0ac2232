-- Stream ownership between replicas. A replica runs a stream only while it
-- holds the stream's lease (renewed every TTL/3); a lease past expires_at is
-- free for any replica to take. syncd_replicas is each replica's heartbeat, so
-- that replicas holding no lease yet count when streams are spread evenly.
-- The checkpoint compare-and-set stays the fence: a lease only decides who
-- tries, never whether a commit is applied twice.

-- +goose Up
CREATE TABLE syncd_leases (
    stream     text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE syncd_replicas (
    owner      text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE syncd_replicas;
DROP TABLE syncd_leases;

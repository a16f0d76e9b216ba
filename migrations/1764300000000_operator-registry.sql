-- Up Migration
-- Durable mirror of the operator registry (docs/DESIGN.md §3.6). The `operator-registry` workflow is the source of
-- truth; session and identity workflows read this table (through a local activity, at run start and on refresh) to
-- verify signed operator commands. One row per key; a revoked key keeps its row with `revoked_at_ms` set.
CREATE TABLE operator_keys (
  kid           text    PRIMARY KEY,
  operator_did  text    NOT NULL,
  role          text    NOT NULL CHECK (role IN ('admin', 'operator')),
  public_key    text    NOT NULL CHECK (public_key ~ '^[0-9a-f]{64}$'),
  added_at_ms   bigint  NOT NULL,
  revoked_at_ms bigint
);
CREATE INDEX operator_keys_did ON operator_keys (operator_did);

-- Down Migration
DROP TABLE operator_keys;

-- Up Migration
-- API keys of the agent-facing HTTP API (docs/DESIGN.md §13): each key acts as exactly one DID, as an agent or an
-- operator. Only the SHA-256 of the key is stored; the key itself is shown once, when it is created.
CREATE TABLE api_keys (
  key_id      text        PRIMARY KEY,
  key_hash    text        NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  agent_did   text        NOT NULL,
  role        text        NOT NULL CHECK (role IN ('agent', 'operator')),
  label       text        NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX api_keys_did_idx ON api_keys (agent_did);

-- Down Migration
DROP TABLE api_keys;

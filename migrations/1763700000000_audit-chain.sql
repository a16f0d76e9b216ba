-- Up Migration
-- One hash chain per session (DESIGN §5). The session workflow is the single writer; rows are append-only and
-- inserted idempotently on (session_id, seq).
CREATE TABLE audit_entries (
  session_id  text        NOT NULL,
  seq         bigint      NOT NULL CHECK (seq >= 1),
  kind        text        NOT NULL,
  agent_did   text,
  payload     jsonb,
  prev_hash   char(64)    NOT NULL,
  hash        char(64)    NOT NULL,
  recorded_at timestamptz NOT NULL,
  inserted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX audit_entries_agent_idx ON audit_entries (agent_did, recorded_at);

CREATE TABLE session_commitments (
  session_id            text        PRIMARY KEY,
  root                  char(64)    NOT NULL,
  entry_count           bigint      NOT NULL,
  participants          jsonb       NOT NULL,
  kill_switch_triggered boolean     NOT NULL DEFAULT false,
  signature             text,
  committed_at          timestamptz NOT NULL
);

-- Down Migration
DROP TABLE session_commitments;
DROP TABLE audit_entries;

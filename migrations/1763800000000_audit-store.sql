-- Up Migration
-- The audit store proper (docs/DESIGN.md §5). No released version ever wrote to the first draft of these tables, so
-- they are replaced rather than altered; the guard refuses to drop rows if someone did write some.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM audit_entries) OR EXISTS (SELECT 1 FROM session_commitments) THEN
    RAISE EXCEPTION 'audit tables hold rows; migrate them by hand before applying 1763800000000_audit-store';
  END IF;
END
$$;
DROP TABLE session_commitments;
DROP TABLE audit_entries;

-- One row per link. The hashed entry is (format, session_id, seq, kind, agent_did, payload_hash, recorded_at_ms,
-- workflow_id, run_id) in canonical JSON; the payload is bound through payload_hash and kept as the exact canonical
-- text that was hashed (jsonb would re-normalise it, and refuses \u0000), so retention can drop it and the chain
-- still verifies.
CREATE TABLE audit_entries (
  session_id        text        NOT NULL,
  seq               bigint      NOT NULL CHECK (seq >= 1),
  format            text        NOT NULL,
  kind              text        NOT NULL,
  agent_did         text,
  payload_hash      char(64)    NOT NULL,
  payload           text,
  recorded_at_ms    bigint      NOT NULL,
  recorded_at       timestamptz NOT NULL,
  workflow_id       text        NOT NULL,
  run_id            text        NOT NULL,
  prev_hash         char(64)    NOT NULL,
  hash              char(64)    NOT NULL,
  inserted_at       timestamptz NOT NULL DEFAULT now(),
  payload_purged_at timestamptz,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX audit_entries_agent_idx ON audit_entries (agent_did, recorded_at);
CREATE INDEX audit_entries_retention_idx ON audit_entries (recorded_at) WHERE payload IS NOT NULL;

-- Append-only: rows are never deleted, and the only permitted change is retention dropping a payload. A superuser can
-- still disable this; that is what the hashes, the commitment signature and the external checkpoints are for.
CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'audit_entries is append-only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.payload IS NOT NULL
     OR NEW.payload_purged_at IS NULL
     OR (to_jsonb(NEW) - 'payload' - 'payload_purged_at') <> (to_jsonb(OLD) - 'payload' - 'payload_purged_at') THEN
    RAISE EXCEPTION 'audit_entries is append-only (only retention may purge a payload)' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();

-- The commitment each session makes when it ends, signed (Ed25519) over the canonical statement when a key is set.
CREATE TABLE session_commitments (
  session_id            text        PRIMARY KEY,
  root                  char(64)    NOT NULL,
  entry_count           bigint      NOT NULL CHECK (entry_count >= 0),
  participants          jsonb       NOT NULL,
  kill_switch_triggered boolean     NOT NULL,
  terminated_at_ms      bigint      NOT NULL,
  reason                text        NOT NULL,
  workflow_id           text        NOT NULL,
  run_id                text        NOT NULL,
  key_id                text,
  signature             text,
  committed_at          timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE session_commitments;
DROP TRIGGER audit_entries_append_only ON audit_entries;
DROP FUNCTION audit_entries_append_only();
DROP TABLE audit_entries;
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
  committed_at          timestamptz NOT NULL DEFAULT now()
);

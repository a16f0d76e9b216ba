-- Up Migration
-- Saga checkpoints (DESIGN §3.2): a committed step with a checkpoint goal is recorded here; a re-run of the saga (same
-- id, or `hv saga resume`) skips steps whose goal is achieved and still valid. Compensating a step invalidates its
-- checkpoint (its effect is gone); operators can invalidate by hand.
CREATE TABLE saga_checkpoints (
  id             bigserial   PRIMARY KEY,
  saga_id        text        NOT NULL,
  step_id        text        NOT NULL,
  goal           text        NOT NULL,
  goal_hash      char(16)    NOT NULL,
  result         jsonb,
  achieved_at    timestamptz NOT NULL DEFAULT now(),
  invalidated_at timestamptz,
  invalidated_by text
);
CREATE UNIQUE INDEX saga_checkpoints_valid_idx ON saga_checkpoints (saga_id, step_id) WHERE invalidated_at IS NULL;
CREATE INDEX saga_checkpoints_saga_idx ON saga_checkpoints (saga_id);

-- Sagas whose compensation finally failed: the input of liability escalation (attribution, slashing, quarantine).
CREATE TABLE saga_escalations (
  saga_id      text        PRIMARY KEY,
  session_id   text        NOT NULL,
  failed_steps jsonb       NOT NULL,
  agents       jsonb       NOT NULL,
  reason       text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE saga_escalations;
DROP TABLE saga_checkpoints;

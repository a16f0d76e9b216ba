-- Up Migration
-- Durable mirror of kill-switch blocks (issue 6; cMCP v0.6.0 `kill_switch_blocks`). The agent workflow is the source of
-- truth; this table lets admission refuse a blocked identity without Temporal, and survives a Temporal server loss.
CREATE TABLE kill_switch_blocks (
  agent_did     text        PRIMARY KEY,
  blocked_at    timestamptz NOT NULL,
  reason        text        NOT NULL,
  trigger       text        NOT NULL CHECK (trigger IN ('deny_rate', 'operator')),
  authorized_by text,
  session_id    text
);

-- Down Migration
DROP TABLE kill_switch_blocks;

-- Up Migration
-- Durable mirror of kill-switch blocks (docs/DESIGN.md §3.3; cMCP's `kill_switch_blocks`, §R9). The agent workflow is the source of
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

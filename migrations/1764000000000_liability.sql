-- Up Migration
-- Joint liability (docs/DESIGN.md §R6): session-scoped bonds, each agent's standing, the append-only ledger, slashes and
-- fault attributions. Scores and amounts are numeric(7,6): exact decimals, never drifting floats.

-- A bond one agent posts for another in a session; released when the session ends.
CREATE TABLE vouches (
  vouch_id      text         PRIMARY KEY,
  session_id    text         NOT NULL,
  voucher_did   text         NOT NULL,
  vouchee_did   text         NOT NULL,
  voucher_sigma numeric(7,6) NOT NULL CHECK (voucher_sigma BETWEEN 0 AND 1),
  bond          numeric(7,6) NOT NULL CHECK (bond > 0 AND bond <= 1),
  created_at    timestamptz  NOT NULL,
  expires_at    timestamptz,
  released_at   timestamptz
);
CREATE INDEX vouches_session_idx ON vouches (session_id, vouchee_did);
CREATE INDEX vouches_voucher_idx ON vouches (voucher_did);

-- What the hypervisor itself knows of an agent's trust: sigma after slashes (null = never slashed), blacklisting.
CREATE TABLE agent_standing (
  agent_did   text         PRIMARY KEY,
  sigma       numeric(7,6) CHECK (sigma BETWEEN 0 AND 1),
  blacklisted boolean      NOT NULL DEFAULT false,
  updated_at  timestamptz  NOT NULL DEFAULT now()
);

CREATE TABLE liability_ledger (
  id            bigserial    PRIMARY KEY,
  agent_did     text         NOT NULL,
  entry_type    text         NOT NULL CHECK (entry_type IN ('vouch_given', 'vouch_received', 'vouch_released',
                               'slash_received', 'slash_cascaded', 'quarantine_entered', 'quarantine_released',
                               'fault_attributed', 'clean_session')),
  session_id    text         NOT NULL DEFAULT '',
  severity      numeric(7,6) NOT NULL DEFAULT 0 CHECK (severity BETWEEN 0 AND 1),
  details       jsonb        NOT NULL DEFAULT '{}',
  related_agent text,
  -- Makes every writer idempotent: a retried activity finds its entry already there.
  entry_key     text         NOT NULL UNIQUE,
  created_at    timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX liability_ledger_agent_idx ON liability_ledger (agent_did, created_at);

-- One row per slash (idempotency and forensics): who, why, and every sigma it changed.
CREATE TABLE slashes (
  slash_id    text        PRIMARY KEY,
  session_id  text        NOT NULL,
  culprit_did text        NOT NULL,
  reason      text        NOT NULL,
  changes     jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Shapley fault attribution of a failed, compensated or escalated saga.
CREATE TABLE fault_attributions (
  saga_id     text        PRIMARY KEY,
  session_id  text        NOT NULL,
  shares      jsonb       NOT NULL,
  value       numeric     NOT NULL,
  root_cause  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE fault_attributions;
DROP TABLE slashes;
DROP TABLE liability_ledger;
DROP TABLE agent_standing;
DROP TABLE vouches;

-- Agent Hypervisor: database roles for production (docs/DESIGN.md §4.1).
--
-- Two roles, so that the role the worker runs as cannot undo the audit trail's protections:
--
--   hypervisor_owner   owns the database, the `public` schema and every table, sequence and function in it, and
--                      applies the migrations (DATABASE_MIGRATION_URL, or `hv db migrate`). Only it can ALTER, DROP or
--                      DISABLE TRIGGER.
--   hypervisor_worker  what the worker runs as (DATABASE_URL): no ownership, no DDL, no TRIGGER, TRUNCATE or
--                      REFERENCES anywhere; on the audit tables only SELECT and INSERT, plus UPDATE of the two columns
--                      retention purges (payload, payload_purged_at). Every other grant is what a store/ query needs.
--
-- Run it as a superuser (or a role that may create roles and change owners), in the hypervisor's own database:
--
--   psql "postgres://postgres@db.internal:5432/hv" -v ON_ERROR_STOP=1 -f deploy/sql/roles.sql
--
-- It is idempotent: it creates what is missing, hands every object to hypervisor_owner (existing installations whose
-- worker role owns the tables included), replaces hypervisor_worker's grants with the list below, and finally checks
-- the result, raising an error if the worker role could still alter or empty the audit tables. Run it
--   1. once before the first migration on a new database (it creates the roles and stops, with a notice, at the
--      grants: there are no tables yet), then migrate as hypervisor_owner, then run it again;
--   2. after every upgrade whose migrations add tables (a table without grants makes it fail, naming the table).
-- The roles are created without passwords: set them with ALTER ROLE ... PASSWORD, or use your platform's authentication.
-- It revokes PUBLIC's access to the database and its `public` schema: other roles that must connect need their own
-- grants. The database should hold nothing but the hypervisor.
--
-- The hash chain, the signed commitments and the checkpoints outside the database (DESIGN §5) remain the defence
-- against a superuser or hypervisor_owner; these roles stop the worker's own credentials from being enough.

BEGIN;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hypervisor_owner') THEN
    CREATE ROLE hypervisor_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hypervisor_worker') THEN
    CREATE ROLE hypervisor_worker LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
  END IF;
END
$$;

-- The database and the schema belong to the owner: the owner of a schema may drop any table in it, and the owner of a
-- database may drop the database, so neither may be the worker (on PostgreSQL ≥ 15 `public` is owned by
-- pg_database_owner, i.e. by whoever owns the database).
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I OWNER TO hypervisor_owner', current_database());
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO hypervisor_worker', current_database());
END
$$;
ALTER SCHEMA public OWNER TO hypervisor_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO hypervisor_worker;

-- Existing objects (an installation whose worker role created them) change hands; an extension's objects stay as they
-- are. A sequence that belongs to a column follows its table.
DO $$
DECLARE
  obj record;
BEGIN
  FOR obj IN
    SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND c.relowner <> 'hypervisor_owner'::regrole
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO hypervisor_owner', obj.name);
  END LOOP;
  FOR obj IN
    SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relowner <> 'hypervisor_owner'::regrole
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO hypervisor_owner', obj.name);
  END LOOP;
  FOR obj IN
    SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public' AND p.proowner <> 'hypervisor_owner'::regrole
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO hypervisor_owner', obj.name);
  END LOOP;
END
$$;

-- The worker's grants, replaced as a whole so that a second run removes anything granted by hand.
DO $$
BEGIN
  IF to_regclass('public.audit_entries') IS NULL THEN
    RAISE NOTICE 'no hypervisor tables yet: apply the migrations as hypervisor_owner, then run this script again';
    RETURN;
  END IF;

  REVOKE ALL ON ALL TABLES IN SCHEMA public FROM hypervisor_worker, PUBLIC;
  REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM hypervisor_worker, PUBLIC;

  -- Audit chain (store/audit.ts): append, read, and retention's purge of payloads. The append-only trigger still
  -- refuses any purge that is not exactly "payload to NULL, payload_purged_at set".
  GRANT SELECT, INSERT ON audit_entries TO hypervisor_worker;
  GRANT UPDATE (payload, payload_purged_at) ON audit_entries TO hypervisor_worker;
  GRANT SELECT, INSERT ON session_commitments TO hypervisor_worker;

  -- Sagas (store/saga.ts): checkpoints are invalidated, never deleted; an escalation row is upserted.
  GRANT SELECT, INSERT ON saga_checkpoints TO hypervisor_worker;
  GRANT UPDATE (invalidated_at, invalidated_by) ON saga_checkpoints TO hypervisor_worker;
  GRANT USAGE ON SEQUENCE saga_checkpoints_id_seq TO hypervisor_worker;
  GRANT SELECT, INSERT ON saga_escalations TO hypervisor_worker;
  GRANT UPDATE (failed_steps, agents, reason) ON saga_escalations TO hypervisor_worker;

  -- Joint liability (store/liability.ts): bonds are released, standings upserted under lock, the ledger, slashes and
  -- attributions only appended.
  GRANT SELECT, INSERT ON vouches TO hypervisor_worker;
  GRANT UPDATE (released_at) ON vouches TO hypervisor_worker;
  GRANT SELECT, INSERT ON agent_standing TO hypervisor_worker;
  GRANT UPDATE (sigma, blacklisted, updated_at) ON agent_standing TO hypervisor_worker;
  GRANT SELECT, INSERT ON liability_ledger TO hypervisor_worker;
  GRANT USAGE ON SEQUENCE liability_ledger_id_seq TO hypervisor_worker;
  GRANT SELECT, INSERT ON slashes TO hypervisor_worker;
  GRANT SELECT, INSERT ON fault_attributions TO hypervisor_worker;

  -- Kill switch (store/kill-switch.ts): the mirror of a block is deleted when the identity is unblocked.
  GRANT SELECT, INSERT, DELETE ON kill_switch_blocks TO hypervisor_worker;

  -- API keys of the HTTP API (store/api-keys.ts): created and revoked, never deleted.
  GRANT SELECT, INSERT ON api_keys TO hypervisor_worker;
  GRANT UPDATE (revoked_at) ON api_keys TO hypervisor_worker;
  -- Operator registry mirror (store/operators.ts): keys are added and revoked, never deleted or re-keyed.
  GRANT SELECT, INSERT ON operator_keys TO hypervisor_worker;
  GRANT UPDATE (role, revoked_at_ms) ON operator_keys TO hypervisor_worker;
END
$$;

-- What the worker role must never be able to do, checked rather than assumed: a role created by hand before this
-- script ran may carry attributes or memberships the script does not remove.
DO $$
DECLARE
  problem text;
BEGIN
  IF to_regclass('public.audit_entries') IS NULL THEN
    RETURN;
  END IF;
  SELECT string_agg(p, '; ') INTO problem FROM (
    SELECT 'hypervisor_worker is a superuser, or has BYPASSRLS, CREATEROLE or REPLICATION' AS p
      FROM pg_roles WHERE rolname = 'hypervisor_worker'
       AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolreplication)
    UNION ALL
    SELECT 'hypervisor_worker is a member of ' || r.rolname
      FROM pg_roles r
     WHERE r.rolname <> 'hypervisor_worker' AND pg_has_role('hypervisor_worker', r.oid, 'MEMBER')
       AND (r.rolname IN ('hypervisor_owner', 'pg_write_all_data', 'pg_database_owner')
            OR EXISTS (SELECT FROM pg_class c WHERE c.relowner = r.oid)
            OR r.rolsuper)
    UNION ALL
    SELECT 'hypervisor_worker owns ' || c.oid::regclass::text
      FROM pg_class c WHERE c.relowner = 'hypervisor_worker'::regrole
    UNION ALL
    SELECT 'hypervisor_worker owns function ' || p.oid::regprocedure::text
      FROM pg_proc p WHERE p.proowner = 'hypervisor_worker'::regrole
    UNION ALL
    SELECT 'hypervisor_worker owns schema ' || n.nspname
      FROM pg_namespace n WHERE n.nspowner = 'hypervisor_worker'::regrole
    UNION ALL
    SELECT 'hypervisor_worker owns database ' || d.datname
      FROM pg_database d WHERE d.datdba = 'hypervisor_worker'::regrole
    UNION ALL
    SELECT format('hypervisor_worker has %s on %s', priv, t)
      FROM unnest(ARRAY['audit_entries', 'session_commitments']) AS t,
           unnest(ARRAY['DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) AS priv
     WHERE has_table_privilege('hypervisor_worker', t, priv)
    UNION ALL
    SELECT 'hypervisor_worker may update audit_entries.' || a.attname
      FROM pg_attribute a
     WHERE a.attrelid = 'audit_entries'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN ('payload', 'payload_purged_at')
       AND has_column_privilege('hypervisor_worker', 'audit_entries', a.attname, 'UPDATE')
    UNION ALL
    SELECT 'hypervisor_worker may update session_commitments'
     WHERE has_any_column_privilege('hypervisor_worker', 'session_commitments', 'UPDATE')
    UNION ALL
    SELECT 'hypervisor_worker may create objects in schema public'
     WHERE has_schema_privilege('hypervisor_worker', 'public', 'CREATE')
    UNION ALL
    -- A table a newer migration added and this script does not know: the worker would fail on it at run time.
    SELECT 'table ' || c.relname || ' has no grant for hypervisor_worker (this script is older than the migrations)'
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'hv_migrations'
       AND NOT has_table_privilege('hypervisor_worker', c.oid, 'SELECT')
  ) AS problems;
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'deploy/sql/roles.sql: %', problem;
  END IF;
END
$$;

COMMIT;

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { appendEntry, genesisHead, type ChainedEntry } from '../../domain/audit-chain.js';
import { toMicro } from '../../domain/liability.js';
import * as auditStore from '../../store/audit.js';
import * as killSwitchStore from '../../store/kill-switch.js';
import * as operatorsStore from '../../store/operators.js';
import { newOperatorKey, operatorEntry, testAdminBootstrap } from '../helpers/operators.js';
import * as liabilityStore from '../../store/liability.js';
import * as sagaStore from '../../store/saga.js';
import { MIGRATIONS_TABLE, MigrationPrivilegeError, runMigrations } from '../../store/migrate.js';
import { projectRoot } from '../../store/paths.js';
import { loadWorkerEnv } from '../../worker/config.js';
import { freePort } from '../../worker/processes.js';
import { startWorker } from '../../worker/worker.js';
import { testCheckpointDir, testInternalKeyPem, testPrivateKeyPem } from '../helpers/audit.js';
import { actions, did, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue } from '../helpers/temporal.js';

/*
 * deploy/sql/roles.sql on the real PostgreSQL, in databases of their own (the roles are cluster-wide, the ownership
 * and grants per database, so the shared test database is untouched).
 */

const ROLES_SQL = path.join(projectRoot, 'deploy', 'sql', 'roles.sql');
const PASSWORD = `pw-${randomUUID()}`;
const suffix = randomUUID().slice(0, 8);
const legacyRole = `hv_legacy_${suffix}`;
const databases = { upgraded: `hv_roles_upgraded_${suffix}`, fresh: `hv_roles_fresh_${suffix}` };

/** The test server's URL with another role and database. */
function urlAs(role: string, database: string, password = PASSWORD): string {
  const url = new URL(inject('databaseUrl'));
  url.username = role;
  url.password = password;
  url.pathname = `/${database}`;
  return url.toString();
}
/** The test server's superuser on `database`. */
function adminUrl(database: string): string {
  const url = new URL(inject('databaseUrl'));
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

/** Runs the script as the superuser, as an operator would with psql; returns its notices. */
async function applyRolesScript(database: string): Promise<string[]> {
  const sql = await readFile(ROLES_SQL, 'utf8');
  return withClient(adminUrl(database), async (db) => {
    const notices: string[] = [];
    db.on('notice', (notice) => notices.push(notice.message ?? ''));
    await db.query(sql);
    return notices;
  });
}

/** The `hv` CLI as an operator runs it, with only the database variables given. */
function hv(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of ['DATABASE_URL', 'DATABASE_MIGRATION_URL']) if (!(name in env)) delete base[name];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'client/cli.ts', ...args],
      { cwd: projectRoot, env: base },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const admin = new pg.Client({ connectionString: inject('databaseUrl') });
let worker: pg.Pool;

beforeAll(async () => {
  await admin.connect();
  // An installation as it is today: one role owns the database, ran the migrations and runs the worker.
  await admin.query(`CREATE ROLE ${legacyRole} LOGIN PASSWORD '${PASSWORD}'`);
  await admin.query(`CREATE DATABASE ${databases.upgraded} OWNER ${legacyRole}`);
  await admin.query(`CREATE DATABASE ${databases.fresh}`);
  await runMigrations(urlAs(legacyRole, databases.upgraded));
  await applyRolesScript(databases.upgraded);
  // Test-only credentials; the script creates the roles without passwords.
  await admin.query(`ALTER ROLE hypervisor_owner PASSWORD '${PASSWORD}'`);
  await admin.query(`ALTER ROLE hypervisor_worker PASSWORD '${PASSWORD}'`);
  worker = new pg.Pool({ connectionString: urlAs('hypervisor_worker', databases.upgraded), max: 4 });
});

afterAll(async () => {
  await worker?.end();
  for (const database of Object.values(databases))
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.query(`DROP ROLE IF EXISTS ${legacyRole}, hypervisor_worker, hypervisor_owner`);
  await admin.end();
});

/** The SQLSTATE a statement fails with, or null when it succeeds. */
async function sqlState(db: pg.Pool | pg.Client, sql: string, params: unknown[] = []): Promise<string | null> {
  try {
    await db.query(sql, params);
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
}

const BASE_MS = Date.UTC(2025, 0, 1);
function chain(n: number, sessionId = `roles-${randomUUID()}`, startMs = BASE_MS): ChainedEntry[] {
  let head = genesisHead();
  const links: ChainedEntry[] = [];
  for (let i = 0; i < n; i++) {
    const out = appendEntry(head, {
      sessionId,
      kind: 'decision',
      agentDid: 'did:mesh:a',
      payload: { i },
      recordedAtMs: startMs + i,
      workflowId: `session:${sessionId}`,
      runId: 'run-1',
    });
    head = out.head;
    links.push(out.chained);
  }
  return links;
}

/** One real call of every store function that touches a table, with everything it reads and writes checked. */
const storeOperations: Record<string, (db: pg.Pool) => Promise<void>> = {
  'audit.insertAuditBatch': async (db) => {
    const links = chain(5);
    const sessionId = links[0]!.entry.sessionId;
    expect(await auditStore.insertAuditBatch(db, sessionId, links)).toEqual({ inserted: 5, duplicates: 0 });
    expect(await auditStore.insertAuditBatch(db, sessionId, links)).toEqual({ inserted: 0, duplicates: 5 });
  },
  'audit.streamAuditEntries': async (db) => {
    const links = chain(3);
    const sessionId = links[0]!.entry.sessionId;
    await auditStore.insertAuditBatch(db, sessionId, links);
    const seqs: number[] = [];
    for await (const row of auditStore.streamAuditEntries(db, sessionId, { pageSize: 2 })) seqs.push(row.seq);
    expect(seqs).toEqual([1, 2, 3]);
  },
  'audit.insertCommitment': async (db) => {
    const links = chain(2);
    const sessionId = links[0]!.entry.sessionId;
    const commitment = {
      sessionId,
      root: links[1]!.hash,
      entryCount: 2,
      participants: ['did:mesh:a'],
      killSwitchTriggered: false,
      terminatedAtMs: BASE_MS,
      reason: 'done',
      workflowId: `session:${sessionId}`,
      runId: 'run-1',
      keyId: null,
      signature: null,
    };
    await auditStore.insertCommitment(db, commitment);
    await auditStore.insertCommitment(db, commitment);
  },
  'audit.readCommitment': async (db) => {
    expect(await auditStore.readCommitment(db, `roles-${randomUUID()}`)).toBeNull();
  },
  'audit.purgePayloadsBefore': async (db) => {
    const links = chain(3, `roles-${randomUUID()}`, BASE_MS - 1000 * 86_400_000);
    const sessionId = links[0]!.entry.sessionId;
    await auditStore.insertAuditBatch(db, sessionId, links);
    expect(await auditStore.purgePayloadsBefore(db, BASE_MS - 999 * 86_400_000, 2)).toBe(3);
    for await (const row of auditStore.streamAuditEntries(db, sessionId)) expect(row.payload).toBeNull();
  },
  'audit.auditSessionKnown': async (db) => {
    const links = chain(1);
    await auditStore.insertAuditBatch(db, links[0]!.entry.sessionId, links);
    expect(await auditStore.auditSessionKnown(db, links[0]!.entry.sessionId)).toBe(true);
  },
  'saga.insertCheckpoint': async (db) => {
    const key = { sagaId: `saga-${randomUUID()}`, stepId: 's1', goal: 'g', goalHash: '0123456789abcdef' };
    await sagaStore.insertCheckpoint(db, { ...key, result: { ok: true } });
    await sagaStore.insertCheckpoint(db, { ...key, result: { ok: true } });
    expect(await sagaStore.listCheckpoints(db, key.sagaId)).toHaveLength(1);
  },
  'saga.findCheckpoint': async (db) => {
    const key = { sagaId: `saga-${randomUUID()}`, stepId: 's1', goal: 'g', goalHash: '0123456789abcdef' };
    await sagaStore.insertCheckpoint(db, { ...key, result: null });
    expect(await sagaStore.findCheckpoint(db, key)).toMatchObject({ stepId: 's1', invalidatedAtMs: null });
  },
  'saga.listCheckpoints': async (db) => {
    expect(await sagaStore.listCheckpoints(db, `saga-${randomUUID()}`)).toEqual([]);
  },
  'saga.invalidateCheckpoints': async (db) => {
    const key = { sagaId: `saga-${randomUUID()}`, stepId: 's1', goal: 'g', goalHash: '0123456789abcdef' };
    await sagaStore.insertCheckpoint(db, { ...key, result: null });
    expect(await sagaStore.invalidateCheckpoints(db, { sagaId: key.sagaId, by: 'operator' })).toBe(1);
    expect(await sagaStore.findCheckpoint(db, key)).toBeNull();
  },
  'saga.upsertEscalation': async (db) => {
    const escalation = {
      sagaId: `saga-${randomUUID()}`,
      sessionId: 's',
      failedSteps: [{ stepId: 's1', agentDid: 'did:mesh:a', error: 'boom' }],
      agents: ['did:mesh:a'],
      reason: 'undo failed',
    };
    await sagaStore.upsertEscalation(db, escalation);
    await sagaStore.upsertEscalation(db, { ...escalation, reason: 'undo failed twice' });
  },
  'liability.appendLedger': async (db) => {
    const agentDid = `did:mesh:${randomUUID()}`;
    const entry = { key: `${agentDid}/q`, agentDid, entryType: 'quarantine_entered' as const, severity: 0.5 };
    await liabilityStore.appendLedger(db, [entry, entry]);
    expect(await liabilityStore.readLedger(db, agentDid)).toHaveLength(1);
  },
  'liability.readStanding': async (db) => {
    expect(await liabilityStore.readStanding(db, `did:mesh:${randomUUID()}`)).toMatchObject({ blacklisted: false });
  },
  'liability.readLedger': async (db) => {
    expect(await liabilityStore.readLedger(db, `did:mesh:${randomUUID()}`)).toEqual([]);
  },
  'liability.insertVouch': async (db) => {
    await liabilityStore.insertVouch(db, vouch(`session-${randomUUID()}`));
  },
  'liability.releaseSessionBonds': async (db) => {
    const sessionId = `session-${randomUUID()}`;
    await liabilityStore.insertVouch(db, vouch(sessionId));
    expect(await liabilityStore.releaseSessionBonds(db, sessionId, BASE_MS + 1000)).toBe(1);
  },
  'liability.recordSlash': async (db) => {
    const sessionId = `session-${randomUUID()}`;
    const v = vouch(sessionId);
    await liabilityStore.insertVouch(db, v);
    const slash = { slashId: `${sessionId}/slash`, sessionId, culpritDid: v.voucheeDid, reason: 'breach' };
    const changes = [
      { agentDid: v.voucheeDid, before: toMicro(0.5), after: 0, depth: 0, kind: 'slash_received' as const, via: null },
      {
        agentDid: v.voucherDid,
        before: toMicro(0.9),
        after: toMicro(0.45),
        depth: 1,
        kind: 'slash_cascaded' as const,
        via: v.voucheeDid,
      },
    ];
    expect(await liabilityStore.recordSlash(db, slash, () => changes)).toEqual(changes);
    // The retry finds the stored slash; a second slash reads the standings the first wrote, under lock.
    expect(await liabilityStore.recordSlash(db, slash, () => [])).toEqual(changes);
    await liabilityStore.recordSlash(db, { ...slash, slashId: `${sessionId}/again` }, ({ storedSigmas }) => {
      expect(storedSigmas[v.voucherDid]).toBe(toMicro(0.45));
      return [{ ...changes[1]!, before: toMicro(0.45), after: toMicro(0.225) }];
    });
    expect(await liabilityStore.readStanding(db, v.voucheeDid)).toMatchObject({ blacklisted: true });
  },
  'liability.insertFaultAttribution': async (db) => {
    const saga = { sagaId: `saga-${randomUUID()}`, sessionId: 's' };
    const attribution = { agents: { 'did:mesh:a': 1 }, value: 1, rootCause: 'did:mesh:a' };
    await liabilityStore.insertFaultAttribution(db, saga, attribution);
    await liabilityStore.insertFaultAttribution(db, saga, attribution);
  },
  'killSwitch.writeKillSwitchBlock': async (db) => {
    const agentDid = `did:mesh:${randomUUID()}`;
    const block = {
      atMs: BASE_MS,
      reason: 'kill_switch_triggered',
      trigger: 'deny_rate' as const,
      authorizedBy: null,
      sessionId: 's',
    };
    await killSwitchStore.writeKillSwitchBlock(db, agentDid, block);
    await killSwitchStore.writeKillSwitchBlock(db, agentDid, { ...block, atMs: BASE_MS + 1 });
    expect(await killSwitchStore.readKillSwitchBlock(db, agentDid)).toEqual(block);
    await killSwitchStore.writeKillSwitchBlock(db, agentDid, null);
    expect(await killSwitchStore.readKillSwitchBlock(db, agentDid)).toBeNull();
  },
  'operators.writeOperatorDirectory': async (db) => {
    const key = newOperatorKey(`did:mesh:${randomUUID()}`);
    const entry = operatorEntry(key, 'operator');
    await operatorsStore.writeOperatorDirectory(db, { operators: [entry] });
    const revoked = { ...entry, keys: [{ ...entry.keys[0]!, revokedAtMs: BASE_MS }] };
    await operatorsStore.writeOperatorDirectory(db, { operators: [revoked] });
    // A revocation is never undone by a stale write.
    await operatorsStore.writeOperatorDirectory(db, { operators: [entry] });
    const read = await operatorsStore.readOperatorDirectory(db);
    expect(read.operators.find((op) => op.did === key.did)).toEqual(revoked);
  },
  'operators.readOperatorDirectory': async (db) => {
    expect((await operatorsStore.readOperatorDirectory(db)).operators).toEqual(expect.any(Array));
  },
  'killSwitch.readKillSwitchBlock': async (db) => {
    expect(await killSwitchStore.readKillSwitchBlock(db, `did:mesh:${randomUUID()}`)).toBeNull();
  },
};

function vouch(sessionId: string) {
  return {
    vouchId: `${sessionId}/v`,
    sessionId,
    voucherDid: `did:mesh:sponsor-${randomUUID()}`,
    voucheeDid: `did:mesh:protege-${randomUUID()}`,
    voucherSigma: toMicro(0.9),
    bond: toMicro(0.45),
    createdAtMs: BASE_MS,
    expiresAtMs: null,
    releasedAtMs: null,
  };
}

describe('the restricted worker role (deploy/sql/roles.sql)', () => {
  it('has a case above for every store function, so a new query cannot skip this check', () => {
    const modules = {
      audit: auditStore,
      saga: sagaStore,
      liability: liabilityStore,
      killSwitch: killSwitchStore,
      operators: operatorsStore,
    };
    const exported = Object.entries(modules).flatMap(([name, module]) =>
      Object.entries(module)
        .filter(([, value]) => typeof value === 'function')
        .map(([fn]) => `${name}.${fn}`),
    );
    expect(Object.keys(storeOperations).sort()).toEqual(exported.sort());
  });

  it.each(Object.keys(storeOperations))('can do what the worker does: %s', async (operation) => {
    await storeOperations[operation]!(worker);
  });

  it('cannot disable the append-only trigger, delete, truncate or rewrite a hash', async () => {
    const links = chain(1);
    const sessionId = links[0]!.entry.sessionId;
    await auditStore.insertAuditBatch(worker, sessionId, links);
    const row = `WHERE session_id = '${sessionId}'`;
    const refused = {
      disableTrigger: await sqlState(worker, 'ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only'),
      disableAllTriggers: await sqlState(worker, 'ALTER TABLE audit_entries DISABLE TRIGGER ALL'),
      replicaMode: await sqlState(worker, 'SET session_replication_role = replica'),
      dropTrigger: await sqlState(worker, 'DROP TRIGGER audit_entries_append_only ON audit_entries'),
      replaceFunction: await sqlState(
        worker,
        'CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$',
      ),
      createTrigger: await sqlState(
        worker,
        'CREATE TRIGGER t BEFORE DELETE ON audit_entries FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()',
      ),
      delete: await sqlState(worker, `DELETE FROM audit_entries ${row}`),
      truncate: await sqlState(worker, 'TRUNCATE audit_entries'),
      updateHash: await sqlState(worker, `UPDATE audit_entries SET hash = $1 ${row}`, ['f'.repeat(64)]),
      updatePrevHash: await sqlState(worker, `UPDATE audit_entries SET prev_hash = $1 ${row}`, ['f'.repeat(64)]),
      updateKind: await sqlState(worker, `UPDATE audit_entries SET kind = 'join' ${row}`),
      dropTable: await sqlState(worker, 'DROP TABLE audit_entries'),
      renameTable: await sqlState(worker, 'ALTER TABLE audit_entries RENAME TO audit_entries_old'),
      deleteCommitment: await sqlState(worker, 'DELETE FROM session_commitments'),
      updateCommitment: await sqlState(worker, `UPDATE session_commitments SET root = $1`, ['f'.repeat(64)]),
      truncateCommitments: await sqlState(worker, 'TRUNCATE session_commitments'),
      deleteLedger: await sqlState(worker, 'DELETE FROM liability_ledger'),
      createTable: await sqlState(worker, 'CREATE TABLE shadow_audit (x int)'),
      migrationsTable: await sqlState(worker, `SELECT * FROM ${MIGRATIONS_TABLE}`),
    };
    const insufficientPrivilege = Object.fromEntries(Object.keys(refused).map((k) => [k, '42501']));
    expect(refused).toEqual(insufficientPrivilege);
    // What the column grant allows, the trigger still narrows to a purge.
    const setPayload = await worker.query(`UPDATE audit_entries SET payload = '{}' ${row}`).catch((e: Error) => e);
    expect(setPayload).toBeInstanceOf(Error);
    expect((setPayload as Error).message).toMatch(/append-only/);
  });

  it('owns nothing, and the role that used to own everything now owns nothing either', async () => {
    await withClient(adminUrl(databases.upgraded), async (db) => {
      const { rows } = await db.query<{ owner: string; objects: string }>(
        `SELECT pg_get_userbyid(c.relowner) AS owner, count(*)::text AS objects
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' GROUP BY 1`,
      );
      expect(rows).toEqual([{ owner: 'hypervisor_owner', objects: expect.any(String) as unknown }]);
      const functions = await db.query<{ owner: string }>(
        `SELECT pg_get_userbyid(p.proowner) AS owner FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`,
      );
      expect(functions.rows).toEqual([{ owner: 'hypervisor_owner' }]);
      const owners = await db.query<{ database: string; schema: string }>(
        `SELECT pg_get_userbyid(d.datdba) AS database,
                (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public') AS schema
           FROM pg_database d WHERE d.datname = current_database()`,
      );
      expect(owners.rows).toEqual([{ database: 'hypervisor_owner', schema: 'hypervisor_owner' }]);
    });
    // PUBLIC's CONNECT is revoked: the old role cannot even reach the database any more.
    await expect(withClient(urlAs(legacyRole, databases.upgraded), (db) => db.query('SELECT 1'))).rejects.toMatchObject(
      { code: '42501' },
    );
  });

  it('lets the owner role migrate, and refuses migrations as the worker role with the way out', async () => {
    expect(await runMigrations(urlAs('hypervisor_owner', databases.upgraded))).toEqual([]);
    const err = await runMigrations(urlAs('hypervisor_worker', databases.upgraded)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(MigrationPrivilegeError);
    expect((err as Error).message).toContain('applying migrations as hypervisor_worker was refused');
    expect((err as Error).message).toContain('permission denied');
    expect((err as Error).message).toContain('DATABASE_MIGRATION_URL');
    expect((err as Error).message).toContain('HV_MIGRATE_ON_START=false');
  });

  it('`hv db migrate` migrates over DATABASE_MIGRATION_URL alone, and names the way out to the worker role', async () => {
    const asOwner = await hv(
      { DATABASE_MIGRATION_URL: urlAs('hypervisor_owner', databases.upgraded) },
      'db',
      'migrate',
      '--json',
    );
    expect(asOwner.code, asOwner.stderr).toBe(0);
    expect(JSON.parse(asOwner.stdout)).toEqual({ applied: [] });
    const asWorker = await hv({ DATABASE_URL: urlAs('hypervisor_worker', databases.upgraded) }, 'db', 'migrate');
    expect(asWorker.code).toBe(1);
    expect(asWorker.stderr).toContain('applying migrations as hypervisor_worker was refused');
  });

  it('replaces grants made by hand when run again, and refuses a worker role that could still alter the tables', async () => {
    await withClient(adminUrl(databases.upgraded), async (db) => {
      await db.query('GRANT DELETE, TRUNCATE ON audit_entries TO hypervisor_worker');
    });
    await applyRolesScript(databases.upgraded);
    expect(await sqlState(worker, 'DELETE FROM audit_entries WHERE false')).toBe('42501');

    await admin.query('GRANT hypervisor_owner TO hypervisor_worker');
    try {
      await expect(applyRolesScript(databases.upgraded)).rejects.toThrow(
        /roles\.sql: .*hypervisor_worker is a member of hypervisor_owner/,
      );
    } finally {
      await admin.query('REVOKE hypervisor_owner FROM hypervisor_worker');
    }
  });

  it('names a table that a newer migration added and the script does not grant', async () => {
    await withClient(urlAs('hypervisor_owner', databases.upgraded), async (db) => {
      await db.query('CREATE TABLE hv_table_from_the_future (id int)');
    });
    try {
      await expect(applyRolesScript(databases.upgraded)).rejects.toThrow(
        /table hv_table_from_the_future has no grant for hypervisor_worker/,
      );
    } finally {
      await withClient(urlAs('hypervisor_owner', databases.upgraded), (db) =>
        db.query('DROP TABLE hv_table_from_the_future'),
      );
    }
  });

  it('sets up a new database in the documented order: script, migrations as the owner, script again', async () => {
    expect(await applyRolesScript(databases.fresh)).toEqual([expect.stringMatching(/apply the migrations/)]);
    expect(await runMigrations(urlAs('hypervisor_owner', databases.fresh))).not.toEqual([]);
    expect(await applyRolesScript(databases.fresh)).toEqual([]);
    const fresh = new pg.Pool({ connectionString: urlAs('hypervisor_worker', databases.fresh), max: 2 });
    try {
      await storeOperations['audit.insertAuditBatch']!(fresh);
      expect(await sqlState(fresh, 'ALTER TABLE audit_entries DISABLE TRIGGER ALL')).toBe('42501');
    } finally {
      await fresh.end();
    }
  });
});

describe('a worker whose DATABASE_URL is hypervisor_worker', () => {
  it('migrates over DATABASE_MIGRATION_URL and runs a session, bonds and commitment included', async () => {
    process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
    process.env.HV_WORKFLOW_BUNDLE = inject('workflowBundlePath');
    const taskQueue = uniqueTaskQueue('restricted-role');
    const lines: string[] = [];
    const running = await startWorker(
      loadWorkerEnv({
        DATABASE_URL: urlAs('hypervisor_worker', databases.upgraded),
        DATABASE_MIGRATION_URL: urlAs('hypervisor_owner', databases.upgraded),
        TEMPORAL_TASK_QUEUE: taskQueue,
        HV_HTTP_HOST: '127.0.0.1',
        HV_HTTP_PORT: String(await freePort()),
        HV_SDK_METRICS_PORT: String(await freePort()),
        HV_AUDIT_RETENTION_SCHEDULE: 'false',
        HV_AUDIT_SIGNING_KEY: testPrivateKeyPem,
        HV_INTERNAL_SIGNING_KEY: testInternalKeyPem,
        HV_OPERATOR_BOOTSTRAP_KEY: testAdminBootstrap,
        HV_CHECKPOINT_SINK: testCheckpointDir,
        HV_SHUTDOWN_GRACE_SECONDS: '1',
        HV_LOG_LEVEL: 'WARN',
      }),
      (line) => lines.push(line),
    );
    const ctx = await connectTestTemporal();
    try {
      const { session } = await newSession(ctx, taskQueue, { enableBlockchainCommitment: true });
      const [sponsor, protege] = [did('sponsor'), did('protege')];
      await session.join({ agentDid: sponsor, sigmaRaw: 0.9, actions: [actions.edit] });
      await session.vouch({ voucherDid: sponsor, voucheeDid: protege, bondPct: 0.5 });
      await session.join({ agentDid: protege, sigmaRaw: 0.5, actions: [actions.edit] });
      await session.activate();
      await session.authorize({ agentDid: protege, actionId: actions.edit.actionId });
      const commitment = await session.terminate({ reason: 'done' });
      expect(commitment.audit).toEqual({ persistedSeq: commitment.entryCount, fault: null });
      expect(commitment.signature).toEqual(expect.any(String));

      await withClient(adminUrl(databases.upgraded), async (db) => {
        const stored = await db.query<{ entries: number; commitments: number; open_bonds: number; ledger: number }>(
          `SELECT (SELECT count(*)::int FROM audit_entries WHERE session_id = $1) AS entries,
                  (SELECT count(*)::int FROM session_commitments WHERE session_id = $1) AS commitments,
                  (SELECT count(*)::int FROM vouches WHERE session_id = $1 AND released_at IS NULL) AS open_bonds,
                  (SELECT count(*)::int FROM liability_ledger WHERE session_id = $1) AS ledger`,
          [session.sessionId],
        );
        // Bonds: given + received at the vouch, released at the end.
        expect(stored.rows[0]).toEqual({ entries: commitment.entryCount, commitments: 1, open_bonds: 0, ledger: 3 });
      });
    } finally {
      await ctx.close();
      await running.shutdown();
    }
  });

  it('refuses an owner URL it would never use', () => {
    expect(() =>
      loadWorkerEnv({
        DATABASE_URL: urlAs('hypervisor_worker', 'hv'),
        DATABASE_MIGRATION_URL: urlAs('hypervisor_owner', 'hv'),
        HV_MIGRATE_ON_START: 'false',
      }),
    ).toThrow(/DATABASE_MIGRATION_URL: is only used to migrate at start, and HV_MIGRATE_ON_START is false/);
    expect(() => loadWorkerEnv({ DATABASE_URL: urlAs('w', 'hv'), DATABASE_MIGRATION_URL: 'mysql://x' })).toThrow(
      /DATABASE_MIGRATION_URL: DATABASE_MIGRATION_URL must be a postgres:\/\/ URL/,
    );
  });
});

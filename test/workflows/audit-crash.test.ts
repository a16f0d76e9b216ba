import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { streamAuditEntries } from '../../activities/audit-store.js';
import { projectRoot } from '../../worker/paths.js';
import { freePort } from '../../worker/processes.js';
import { testCheckpointDir, testPool, testPrivateKeyPem, trustedTestKeys } from '../helpers/audit.js';
import { actions, allActions, auditSettled, did, eventually, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

/** The production worker entry point as its own process, in its own process group so it can be killed outright. */
async function spawnWorker(taskQueue: string): Promise<ChildProcess> {
  const httpPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: projectRoot,
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      DATABASE_URL: inject('databaseUrl'),
      TEMPORAL_TASK_QUEUE: taskQueue,
      HV_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
      HV_HTTP_HOST: '127.0.0.1',
      HV_HTTP_PORT: String(httpPort),
      HV_SDK_METRICS_PORT: String(await freePort()),
      HV_MIGRATE_ON_START: 'false',
      HV_AUDIT_RETENTION_SCHEDULE: 'false',
      HV_AUDIT_SIGNING_KEY: testPrivateKeyPem,
      HV_CHECKPOINT_SINK: testCheckpointDir,
      HV_LOG_LEVEL: 'ERROR',
    },
  });
  await eventually(
    () =>
      fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
        (res) => res.status,
        () => 0,
      ),
    (status) => status === 200,
    60_000,
  );
  return child;
}

describe('a worker killed in the middle of an audit append', () => {
  it('leaves a chain that verifies with no gap and no duplicate once another worker takes over', async () => {
    const taskQueue = uniqueTaskQueue('audit-crash');
    const child = await spawnWorker(taskQueue);
    const { session } = await newSession(ctx, taskQueue, { enableBlockchainCommitment: true });
    const agent = did('a');
    await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: allActions });
    await auditSettled(session);
    const persisted = (await session.view()).audit.persistedSeq;

    // The next insert of this session stalls inside its transaction, like a slow disk: the worker dies there.
    const trigger = `hv_test_stall_${Date.now()}`;
    await testPool().query(`
      CREATE OR REPLACE FUNCTION hv_test_stall() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.session_id = TG_ARGV[0] THEN PERFORM pg_sleep(120); END IF;
        RETURN NEW;
      END $$`);
    await testPool().query(
      `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION hv_test_stall('${session.sessionId}')`,
    );
    try {
      await session.activate();
      for (let i = 0; i < 5; i++) await session.authorize({ agentDid: agent, actionId: actions.edit.actionId });
      const stalled = await eventually(
        () =>
          testPool().query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'INSERT INTO audit_entries%'`,
          ),
        (res) => res.rows.length > 0,
      );
      process.kill(-child.pid!, 'SIGKILL');
      await once(child, 'exit');
      // The database notices the dead client and rolls its transaction back.
      for (const { pid } of stalled.rows) await testPool().query('SELECT pg_terminate_backend($1)', [pid]);
    } finally {
      await testPool().query(`DROP TRIGGER IF EXISTS ${trigger} ON audit_entries`);
    }
    const { rows: during } = await testPool().query<{ n: string }>(
      'SELECT count(*) AS n FROM audit_entries WHERE session_id = $1',
      [session.sessionId],
    );
    expect(Number(during[0]!.n)).toBe(persisted);

    // A replacement worker: the lost attempt times out and is retried there; the outbox drains in order.
    await withWorker(ctx, { taskQueue }, async () => {
      await session.authorize({ agentDid: agent, actionId: actions.read.actionId });
      const commitment = await session.terminate();
      const seqs: number[] = [];
      for await (const row of streamAuditEntries(testPool(), session.sessionId)) seqs.push(row.seq);
      expect(seqs).toEqual(Array.from({ length: commitment.entryCount }, (_, i) => i + 1));
      const report = await session.verifyAudit({
        pool: testPool(),
        trustedKeys: trustedTestKeys(),
        checkpointDir: testCheckpointDir,
        requireSignatures: true,
      });
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
    });
  });
});

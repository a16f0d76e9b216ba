import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamAuditEntries } from '../../store/audit.js';
import { testPool, verifyOptions } from '../helpers/audit.js';
import { killWorker, spawnWorker } from '../helpers/worker-process.js';
import { actions, allActions, auditSettled, did, eventually, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

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
      await killWorker(child);
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
      const report = await session.verifyAudit(verifyOptions());
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
    });
  });
});

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { HypervisorError } from '../../client/errors.js';
import { ErrorType } from '../../domain/errors.js';
import { MAX_IDENTIFIER_LENGTH } from '../../domain/identifiers.js';
import { CARRY_BUDGET, MAX_AUDIT_BACKLOG } from '../../domain/limits.js';
import { testActivities, testPool, verifyOptions } from '../helpers/audit.js';
import { actions, allActions, did, eventually, newSession } from '../helpers/session.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

/** The test server suggests continue-as-new at this many history events (test/setup/global-setup.ts). */
const SUGGESTED_AT = 400;

/**
 * Runs `fn` while a worker polls a fresh task queue with activities whose Postgres pool goes through a TCP proxy, so
 * `proxy.down()` is a real outage for the worker (its pool fails fast meanwhile) and nothing else.
 */
async function withOutageWorker(fn: (taskQueue: string, proxy: TcpProxy) => Promise<void>): Promise<void> {
  const target = new URL(inject('databaseUrl'));
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4, connectionTimeoutMillis: 1_000 });
  pool.on('error', () => undefined);
  const taskQueue = uniqueTaskQueue('outage');
  try {
    await withWorker(ctx, { taskQueue, activities: testActivities({ pool }) }, () => fn(taskQueue, proxy));
  } finally {
    await proxy.up().catch(() => undefined);
    await pool.end();
    await proxy.close();
  }
}

describe('a real database outage', () => {
  it('answers a terminate sent while the run hands over during the outage, once the store is back', async () => {
    await withOutageWorker(async (taskQueue, proxy) => {
      const { session } = await newSession(ctx, taskQueue, {
        breachPolicy: { baselineRate: 1_000_000 },
        rateLimits: { '2': { ratePerSecond: 100_000, burst: 100_000 } },
      });
      const agents = [did('a'), did('b')];
      for (const agentDid of agents) await session.join({ agentDid, sigmaRaw: 0.8, actions: allActions });
      await session.activate();
      await eventually(
        () => session.view(),
        (v) => v.audit.pending === 0,
        30_000,
      );
      const firstRun = (await session.view()).runId;

      await proxy.down();
      // The flush of the next entries fails and is retried: from then on the run has a batch in flight.
      await session.authorize({ agentDid: agents[0]!, actionId: actions.edit.actionId });
      await eventually(
        async () => (await session.workflow.describe()).raw.pendingActivities ?? [],
        (pending) => pending.some((a) => a.activityType?.name === 'appendAuditEntries' && (a.attempt ?? 0) >= 2),
        30_000,
      );
      // Four callers until the history passes Temporal's suggestion: the run then waits to hand over, and the batch
      // in flight it waits for cannot land while the store is down.
      let handingOver = false;
      let refused = 0;
      await Promise.all(
        Array.from({ length: 4 }, async (_, c) => {
          for (let i = 0; !handingOver && i < 1_000; i++) {
            await session.authorize({ agentDid: agents[c % 2]!, actionId: actions.edit.actionId }).catch((e) => {
              if (!(e instanceof HypervisorError && e.type === ErrorType.AuditUnavailable)) throw e;
              refused++;
            });
            if (c === 0 && i % 5 === 4) handingOver = (await session.view()).historyLength >= SUGGESTED_AT;
          }
        }),
      );
      expect(handingOver).toBe(true);
      expect(refused).toBe(0);

      const terminating = session.terminate({ reason: 'operator ends it during the outage' });
      const closed = await eventually(
        () => session.view(),
        (v) => v.state === 'archived',
        30_000,
      );
      // Terminated by the run that was handing over, with entries still waiting for the store.
      expect(closed.runId).toBe(firstRun);
      expect(closed.audit.pending).toBeGreaterThan(0);

      await proxy.up();
      const commitment = await terminating;
      expect(commitment.audit).toMatchObject({ persistedSeq: commitment.entryCount, fault: null });
      expect(commitment.signature).toBeTruthy();
      const report = await session.verifyAudit(verifyOptions());
      expect(report.ok).toBe(true);
      const stored = await testPool().query<{ n: string }>(
        'SELECT count(*) AS n FROM audit_entries WHERE session_id = $1',
        [session.sessionId],
      );
      expect(Number(stored.rows[0]!.n)).toBe(commitment.entryCount);
    });
  }, 180_000);

  it('fails closed by bytes too: entries waiting for the store refuse the next governance update before 1,000', async () => {
    await withOutageWorker(async (taskQueue, proxy) => {
      const { session } = await newSession(ctx, taskQueue, {
        breachPolicy: { baselineRate: 1_000_000 },
        rateLimits: { '2': { ratePerSecond: 100_000, burst: 100_000 } },
      });
      const agentDid = did('a');
      // A 256-character action id: each decision entry is ≈ 0.9 KB, so the outbox reaches its byte budget (448 KiB)
      // well before its 1,000-entry limit.
      const actionId = 'long-'.padEnd(MAX_IDENTIFIER_LENGTH, 'x');
      await session.join({ agentDid, sigmaRaw: 0.8, actions: [{ actionId, name: 'long', reversibility: 'full' }] });
      await session.activate();
      await eventually(
        () => session.view(),
        (v) => v.audit.pending === 0,
        30_000,
      );
      await proxy.down();
      let allowed = 0;
      let refusal: HypervisorError | undefined;
      for (let i = 0; i < MAX_AUDIT_BACKLOG && !refusal; i++) {
        await session.authorize({ agentDid, actionId }).then(
          (d) => void (d.allowed && allowed++),
          (e: unknown) => {
            if (!(e instanceof HypervisorError)) throw e;
            refusal = e;
          },
        );
      }
      expect(refusal?.type).toBe(ErrorType.AuditUnavailable);
      const view = await session.view();
      expect(view.audit.pending).toBeLessThan(MAX_AUDIT_BACKLOG);
      expect(view.audit.pending).toBeGreaterThan(CARRY_BUDGET.outboxBytes / 2_048);
      expect(allowed).toBe(view.audit.pending);
      // The refusal wrote nothing; once the store is back every entry lands and the session works again.
      await proxy.up();
      await eventually(
        () => session.view(),
        (v) => v.audit.pending === 0,
        60_000,
      );
      expect((await session.authorize({ agentDid, actionId })).allowed).toBe(true);
      const commitment = await session.terminate();
      expect(commitment.audit).toMatchObject({ persistedSeq: commitment.entryCount, fault: null });
    });
  }, 180_000);
});

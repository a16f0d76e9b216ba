import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';
import { actions, allActions, did, eventually, newSession } from '../helpers/session.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

describe('session durability', () => {
  it('continues as new when Temporal suggests it and carries every piece of state across', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      // The test server suggests continue-as-new at 400 history events (test/setup/global-setup.ts).
      // Ring 3 refills so slowly that b's drained bucket stays empty for the whole test.
      const { session, creatorDid } = await newSession(ctx, taskQueue, {
        breachPolicy: { baselineRate: 10_000 },
        rateLimits: { '3': { ratePerSecond: 0.001, burst: 10 } },
      });
      const [a, b] = [did('a'), did('b')];
      await session.join({ agentDid: a, sigmaRaw: 0.9, actions: allActions });
      await session.join({ agentDid: b, sigmaRaw: 0.3, actions: allActions });
      await session.activate();
      await session.write({ agentDid: a, path: '/kept', content: 'survives' });
      const lock = await session.acquireLock({ agentDid: a, path: '/kept', intent: 'write', ttlSeconds: 600 });
      const grant = await session.elevate({
        agentDid: a,
        targetRing: 1,
        reason: 'long job',
        approvedBy: creatorDid,
        ttlSeconds: 600,
      });
      // Drain b's ring-3 bucket so we can prove it is not refilled by the new run.
      for (let i = 0; i < 10; i++) await session.authorize({ agentDid: b, actionId: actions.read.actionId });
      const firstRun = (await session.view()).runId;

      let view = await session.view();
      let calls = 0;
      for (; view.runId === firstRun && calls < 400; calls++) {
        await session.authorize({ agentDid: a, actionId: actions.edit.actionId });
        if (calls % 20 === 19) view = await session.view();
      }
      view = await eventually(
        () => session.view(),
        (v) => v.runId !== firstRun,
      );
      expect(view.state).toBe('active');
      expect(view.participants.map((p) => p.agentDid).sort()).toEqual([a, b].sort());
      expect(view.participants.find((p) => p.agentDid === a)?.elevation?.elevationId).toBe(grant.elevationId);
      expect(view.locks.map((l) => l.lockId)).toEqual([lock.lockId]);
      expect(view.vfs.files).toBe(1);
      expect(view.historyLength).toBeLessThan(400);
      expect((await session.read({ agentDid: a, path: '/kept' })).content).toBe('survives');
      expect(await session.authorize({ agentDid: b, actionId: actions.read.actionId })).toMatchObject({
        allowed: false,
        reason: 'rate_limited',
      });
      // The audit chain continues across runs: the new run's first entry links to the old run's last.
      const commitment = await session.terminate();
      expect(commitment.entryCount).toBeGreaterThan(calls + 10);
      expect(commitment.participants).toEqual([a, b].sort());
    });
  });

  it('is findable by its search attributes', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, hv } = await newSession(ctx, taskQueue);
      const agent = did('findme');
      await session.join({ agentDid: agent, sigmaRaw: 0.8 });
      await session.activate();
      const query = `HvSessionId = '${session.sessionId}' AND HvSessionState = 'active' AND HvAgentIds = '${agent}'`;
      const found = await eventually(
        async () => {
          const ids: string[] = [];
          for await (const wf of hv.temporal.workflow.list({ query })) ids.push(wf.workflowId);
          return ids;
        },
        (ids) => ids.length === 1,
      );
      expect(found).toEqual([session.workflow.workflowId]);
    });
  });
});

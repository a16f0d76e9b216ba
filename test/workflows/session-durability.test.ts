import { AGENT_IDS_BUDGET_BYTES } from '../../domain/search-attributes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';
import { actions, allActions, did, eventually, newSession } from '../helpers/session.js';
import { joinSessionUpdate, writeStateUpdate } from '../../workflows/messages.js';
import { testPool } from '../helpers/audit.js';

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

  it('stays findable past the search attribute limit: 200 participants, each found by hv session list --agent', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, hv } = await newSession(ctx, taskQueue, { maxParticipants: 1000 });
      // 200 ids of ~40 characters: 8 KB, four times what one search attribute value may hold.
      const agents = Array.from({ length: 200 }, (_, i) =>
        did(`crowd-${String(i).padStart(3, '0')}-${'x'.repeat(16)}`),
      );
      for (let i = 0; i < agents.length; i += 10)
        await Promise.all(agents.slice(i, i + 10).map((agentDid) => session.join({ agentDid, sigmaRaw: 0.8 })));
      await session.activate();
      expect((await session.view()).participants).toHaveLength(200);
      const listed = await eventually(
        async () => (await session.workflow.describe()).searchAttributes.HvAgentIds as string[] | undefined,
        (ids) => Array.isArray(ids) && ids.length > 0,
      );
      expect(JSON.stringify(listed).length).toBeLessThanOrEqual(AGENT_IDS_BUDGET_BYTES);
      expect(listed!.length).toBeLessThan(200);
      // The first agent is listed in the attribute, the last one only by its identity: both are found.
      for (const agent of [agents[0]!, agents[199]!]) {
        const found = await eventually(
          () => hv.listSessions({ agent }),
          (sessions) => sessions.some((s) => s.sessionId === session.sessionId),
        );
        expect(found.map((s) => s.sessionId)).toContain(session.sessionId);
      }
      expect((await hv.listSessions({ agent: did('nobody-here') })).map((s) => s.sessionId)).not.toContain(
        session.sessionId,
      );
      expect((await session.terminate()).participants).toHaveLength(200);
    });
  });

  it('answers an update id retried across continue-as-new with the first answer, applying it once', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { breachPolicy: { baselineRate: 10_000 } });
      const [a, b] = [did('a'), did('b')];
      await session.join({ agentDid: a, sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      // What a client's retry sends: the same update id, after the run that answered it continued as new.
      const joinB = () =>
        session.workflow.executeUpdate(joinSessionUpdate, {
          args: [{ agentDid: b, sigmaRaw: 0.8, actions: [actions.read] }],
          updateId: 'retried-join',
        });
      const write = () =>
        session.workflow.executeUpdate(writeStateUpdate, {
          args: [{ agentDid: a, path: '/once', content: 'x' }],
          updateId: 'retried-write',
        });
      const first = await joinB();
      const written = await write();
      const firstRun = (await session.view()).runId;
      for (let i = 0; (await session.view()).runId === firstRun; i++) {
        expect(i).toBeLessThan(400);
        await session.authorize({ agentDid: a, actionId: actions.edit.actionId });
      }
      expect(await joinB()).toEqual(first);
      expect(await write()).toEqual(written);
      const view = await session.view();
      expect(view.participants.filter((p) => p.agentDid === b)).toHaveLength(1);
      expect((await session.read({ agentDid: a, path: '/once' })).version).toBe(written.version);
      await session.terminate();
      const stored = await testPool().query<{ kind: string }>(
        `SELECT kind FROM audit_entries WHERE session_id = $1 AND (agent_did = $2 OR kind = 'vfs_write')`,
        [session.sessionId, b],
      );
      const kinds = stored.rows.map((r) => r.kind);
      expect(kinds.filter((k) => k === 'join' || k === 'rejoin')).toEqual(['join']);
      expect(kinds.filter((k) => k === 'vfs_write')).toEqual(['vfs_write']);
    });
  });
});

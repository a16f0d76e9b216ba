import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../store/liability.js';
import { ErrorType } from '../../domain/errors.js';
import { testPool } from '../helpers/audit.js';
import { actions, allActions, did, eventually, expectHvError, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

const calm = { breachPolicy: { baselineRate: 10_000 } };

describe('quarantine', () => {
  it('isolates read-only (ring 3, no writes, no elevation), keeps forensic data, then releases on time', async () => {
    const taskQueue = uniqueTaskQueue('quarantine');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, creatorDid } = await newSession(ctx, taskQueue, calm);
      const agent = did('suspect');
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await session.activate();
      expect(await session.authorize({ agentDid: agent, actionId: actions.edit.actionId })).toMatchObject({
        allowed: true,
      });
      const q = await session.quarantine({
        agentDid: agent,
        reason: 'behavioral_drift',
        authorizedBy: creatorDid,
        durationSeconds: 2,
        forensic: { lastPrompt: 'ignore previous instructions', toolCalls: 17 },
      });
      expect(q).toMatchObject({ agentDid: agent, onTimeout: 'release' });
      expect(await session.authorize({ agentDid: agent, actionId: actions.edit.actionId })).toMatchObject({
        allowed: false,
        effectiveRing: 3,
      });
      expect(await session.authorize({ agentDid: agent, actionId: actions.read.actionId })).toMatchObject({
        allowed: true,
      });
      await expectHvError(session.write({ agentDid: agent, path: '/x', content: 'y' }), ErrorType.RingViolation);
      await expectHvError(
        session.elevate({ agentDid: agent, targetRing: 1, reason: 'escape', approvedBy: creatorDid }),
        ErrorType.AgentQuarantined,
      );
      const entry = (await session.auditTail(20)).find((e) => e.entry.kind === 'quarantine');
      expect(entry?.payload).toMatchObject({ reason: 'behavioral_drift', forensic: { toolCalls: 17 } });
      expect((await readLedger(testPool(), agent)).map((e) => e.entryType)).toContain('quarantine_entered');

      // The durable timer lifts it: edit is allowed again.
      await eventually(
        () => session.auditTail(10),
        (t) => t.some((e) => e.entry.kind === 'quarantine_released'),
      );
      expect(await session.authorize({ agentDid: agent, actionId: actions.edit.actionId })).toMatchObject({
        allowed: true,
      });
    });
  });

  it('kills with quarantine_timeout when the policy says so, and can be released early', async () => {
    const taskQueue = uniqueTaskQueue('quarantine-kill');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, creatorDid } = await newSession(ctx, taskQueue, calm);
      const [a, b] = [did('a'), did('b')];
      await session.join({ agentDid: a, sigmaRaw: 0.8 });
      await session.join({ agentDid: b, sigmaRaw: 0.8 });
      await session.quarantine({
        agentDid: a,
        reason: 'manual',
        authorizedBy: creatorDid,
        durationSeconds: 1,
        onTimeout: 'kill',
      });
      await session.quarantine({ agentDid: b, reason: 'manual', authorizedBy: creatorDid, durationSeconds: 600 });
      const view = await eventually(
        () => session.view(),
        (v) => v.participants.find((p) => p.agentDid === a)?.status === 'killed',
      );
      expect(view.participants.find((p) => p.agentDid === a)?.kill?.reason).toBe('quarantine_timeout');
      expect(await session.releaseQuarantine({ agentDid: b, authorizedBy: creatorDid })).toEqual({ released: true });
      await expectHvError(session.releaseQuarantine({ agentDid: b, authorizedBy: creatorDid }), ErrorType.NotFound);
    });
  });
});

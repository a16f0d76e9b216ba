import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHypervisorError } from '../../client/errors.js';
import { ErrorType } from '../../domain/errors.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';
import {
  actions,
  allActions,
  auditSettled,
  did,
  eventually,
  expectHvError,
  historyLength,
  newSession,
} from '../helpers/session.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

describe('authorize: the enforcement point', () => {
  it('checks the effective ring against the action’s required ring and records every decision', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const agent = did('worker');
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await expectHvError(
        session.authorize({ agentDid: agent, actionId: actions.read.actionId }),
        ErrorType.IllegalTransition,
      );
      await session.activate();

      expect(await session.authorize({ agentDid: agent, actionId: actions.read.actionId })).toEqual({
        allowed: true,
        reason: 'allowed',
        requiredRing: 3,
        effectiveRing: 2,
        retryAfterMs: 0,
        breach: null,
      });
      expect(await session.authorize({ agentDid: agent, actionId: actions.edit.actionId })).toMatchObject({
        allowed: true,
        requiredRing: 2,
      });
      expect(await session.authorize({ agentDid: agent, actionId: actions.deploy.actionId })).toMatchObject({
        allowed: false,
        reason: 'ring_violation',
        requiredRing: 1,
        effectiveRing: 2,
      });
      expect(await session.authorize({ agentDid: agent, actionId: actions.admin.actionId })).toMatchObject({
        allowed: false,
        reason: 'ring_violation',
        requiredRing: 0,
      });
      expect(await session.authorize({ agentDid: agent, actionId: 'never-declared' })).toMatchObject({
        allowed: false,
        reason: 'unknown_action',
      });

      const view = await session.view();
      expect(view.stats).toMatchObject({ allowed: 2, denied: 3 });
      const tail = await session.auditTail(5);
      expect(tail.filter((e) => e.entry.kind === 'decision')).toHaveLength(5);
      expect(tail.at(-1)?.payload).toMatchObject({ actionId: 'never-declared', allowed: false });
      // Each entry links to the previous one.
      for (let i = 1; i < tail.length; i++) expect(tail[i]!.prevHash).toBe(tail[i - 1]!.hash);

      await expectHvError(session.authorize({ agentDid: did('stranger'), actionId: 'x' }), ErrorType.NotParticipant);
      await expectHvError(
        session.authorize({ agentDid: agent, actionId: actions.read.actionId, cost: 0 }),
        ErrorType.InvalidInput,
      );
      await expectHvError(
        session.authorize({ agentDid: agent, actionId: actions.read.actionId, cost: -5 }),
        ErrorType.InvalidInput,
      );
    });
  });

  it('with enableAudit false, chains denials but not routine allows', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { enableAudit: false });
      const agent = did('quiet');
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await session.activate();
      await session.authorize({ agentDid: agent, actionId: actions.edit.actionId });
      await session.authorize({ agentDid: agent, actionId: actions.deploy.actionId });
      const decisions = (await session.auditTail(10)).filter((e) => e.entry.kind === 'decision');
      expect(decisions.map((e) => (e.payload as { actionId: string }).actionId)).toEqual([actions.deploy.actionId]);
    });
  });

  it('gives ring 3 a burst of 10 and rate-limits the 11th call', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      // A high baseline keeps the breach detector out of this test; a negligible refill keeps timing out of it.
      const { session } = await newSession(ctx, taskQueue, {
        breachPolicy: { baselineRate: 1000 },
        rateLimits: { '3': { ratePerSecond: 0.001, burst: 10 } },
      });
      const agent = did('sandboxed');
      await session.join({ agentDid: agent, sigmaRaw: 0.3, actions: allActions });
      await session.activate();
      const decisions = [];
      for (let i = 0; i < 11; i++)
        decisions.push(await session.authorize({ agentDid: agent, actionId: actions.read.actionId }));
      expect(decisions.slice(0, 10).every((d) => d.allowed)).toBe(true);
      expect(decisions[10]).toMatchObject({ allowed: false, reason: 'rate_limited', effectiveRing: 3 });
      expect(decisions[10]!.retryAfterMs).toBeGreaterThan(0);
    });
  });

  it('demotes on a HIGH breach and kills with ring_breach on CRITICAL', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      // baseline 0.5/s: 5 upward attempts (weight 2 each) in a second score 20 → critical; 3 of them score ≥ 10 → high.
      const { session } = await newSession(ctx, taskQueue, { breachPolicy: { baselineRate: 0.5 } });
      const agent = did('climber');
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await session.activate();
      const seen = [];
      for (let i = 0; i < 6; i++)
        seen.push(await session.authorize({ agentDid: agent, actionId: actions.deploy.actionId }));
      const demoted = seen.find((d) => d.breach?.action === 'demote');
      expect(demoted).toBeDefined();
      expect(demoted!.effectiveRing).toBe(3);
      const last = seen.at(-1)!;
      expect(last).toMatchObject({ allowed: false, reason: 'agent_killed' });
      const view = await session.view();
      const participant = view.participants.find((p) => p.agentDid === agent)!;
      expect(participant.status).toBe('killed');
      expect(participant.kill?.reason).toBe('ring_breach');
      expect(seen.some((d) => d.reason === 'ring_breach' && d.breach?.severity === 'critical')).toBe(true);
    });
  });

  it('does not flag two quick calls as a breach', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const agent = did('normal');
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await session.activate();
      const [a, b] = await Promise.all([
        session.authorize({ agentDid: agent, actionId: actions.edit.actionId }),
        session.authorize({ agentDid: agent, actionId: actions.edit.actionId }),
      ]);
      expect(a.breach).toBeNull();
      expect(b.breach).toBeNull();
    });
  });
});

describe('elevation (sudo)', () => {
  it('grants with an approver, raises the effective ring, reverts on a durable timer', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, creatorDid } = await newSession(ctx, taskQueue);
      const agent = did('ops');
      await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      expect((await session.authorize({ agentDid: agent, actionId: actions.deploy.actionId })).allowed).toBe(false);

      const denied = await expectHvError(
        session.elevate({ agentDid: agent, targetRing: 1, reason: 'hotfix', approvedBy: agent }),
        ErrorType.ElevationDenied,
      );
      expect(denied.details).toMatchObject({ reason: 'approval_required' });
      await expectHvError(session.elevate({ agentDid: agent, targetRing: 3, reason: 'x' }), ErrorType.ElevationDenied);
      await expectHvError(
        session.elevate({ agentDid: agent, targetRing: 1, reason: 'x', ttlSeconds: 3601 }),
        ErrorType.InvalidInput,
      );

      const grant = await session.elevate({
        agentDid: agent,
        targetRing: 1,
        reason: 'hotfix',
        approvedBy: creatorDid,
        ttlSeconds: 1,
      });
      expect(grant).toMatchObject({ fromRing: 2, toRing: 1, ttlSeconds: 1, approvedBy: creatorDid });
      await expectHvError(
        session.elevate({ agentDid: agent, targetRing: 1, reason: 'again', approvedBy: creatorDid }),
        ErrorType.ElevationDenied,
      );
      expect(await session.authorize({ agentDid: agent, actionId: actions.deploy.actionId })).toMatchObject({
        allowed: true,
        effectiveRing: 1,
      });

      // The durable timer reverts it: no client action needed.
      const view = await eventually(
        () => session.view(),
        (v) => v.participants[0]!.elevation === null,
      );
      expect(view.participants[0]!.effectiveRing).toBe(2);
      const tail = await session.auditTail(50);
      expect(tail.some((e) => e.entry.kind === 'elevation_expired')).toBe(true);
    });
  });

  it('needs an SRE witness for ring 0, allows early revoke, and applies the signal variant', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, creatorDid } = await newSession(ctx, taskQueue);
      const agent = did('root-wannabe');
      await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      const noWitness = await expectHvError(
        session.elevate({ agentDid: agent, targetRing: 0, reason: 'keys', approvedBy: creatorDid }),
        ErrorType.ElevationDenied,
      );
      expect(noWitness.details).toMatchObject({ reason: 'ring_0_requires_sre_witness' });
      const grant = await session.elevate({
        agentDid: agent,
        targetRing: 0,
        reason: 'rotate keys',
        approvedBy: creatorDid,
        attestation: { kind: 'sre-witness', witnessDid: did('sre'), statement: 'INC-42 approved' },
      });
      expect(grant.toRing).toBe(0);
      expect((await session.authorize({ agentDid: agent, actionId: actions.admin.actionId })).allowed).toBe(true);
      expect((await session.revokeElevation({ agentDid: agent, reason: 'done' })).revoked?.elevationId).toBe(
        grant.elevationId,
      );
      expect((await session.authorize({ agentDid: agent, actionId: actions.admin.actionId })).allowed).toBe(false);

      await session.sendElevate({ agentDid: agent, targetRing: 1, reason: 'via signal', approvedBy: creatorDid });
      await eventually(
        () => session.view(),
        (v) => v.participants[0]!.elevation?.toRing === 1,
      );
      await session.sendRevokeElevation({ agentDid: agent });
      await eventually(
        () => session.view(),
        (v) => v.participants[0]!.elevation === null,
      );
      // An invalid signal cannot be rejected; it is dropped and recorded, and the session carries on.
      const before = (await session.view()).audit.entries;
      await session.workflow.signal('elevateAgent', { agentDid: agent, targetRing: 7 });
      await eventually(
        () => session.view(),
        (v) => v.audit.entries > before,
      );
      expect((await session.auditTail(1))[0]!.entry.kind).toBe('elevateAgent_rejected');
    });
  });

  it('rejects a malformed update without adding history', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const agent = did('a');
      await session.join({ agentDid: agent, sigmaRaw: 0.9 });
      await auditSettled(session);
      const before = await historyLength(session);
      await expectHvError(
        session.elevate({ agentDid: agent, targetRing: 1, reason: 'no approver' }),
        ErrorType.ElevationDenied,
      );
      const raw = session.workflow
        .executeUpdate('requestElevation', { args: [{ nonsense: true }] })
        .catch((err: unknown) => {
          throw toHypervisorError(err);
        });
      await expectHvError(raw, ErrorType.InvalidInput);
      expect(await historyLength(session)).toBe(before);
    });
  });
});

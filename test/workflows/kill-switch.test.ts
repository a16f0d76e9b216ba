import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKillSwitchBlock } from '../../store/kill-switch.js';
import { agentWorkflowId } from '../../workflows/messages.js';
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

/** No breach kills in these tests: only the kill switch acts. */
const calm = { breachPolicy: { baselineRate: 10_000 } };
const armed = { enabled: true, window_seconds: 300, deny_rate_threshold: 0.9, min_calls: 10 };

describe('the deny-rate kill switch on the real server', () => {
  it('trips at the crossing decision, kills the agent in every session, records break_glass_used, and blocks joins', async () => {
    const taskQueue = uniqueTaskQueue('kill-switch');
    const agent = did('rogue');
    await withWorker(ctx, { taskQueue }, async () => {
      const first = await newSession(ctx, taskQueue, calm);
      const second = await newSession(ctx, taskQueue, calm);
      await first.session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await second.session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await first.session.activate();
      const hvAgent = first.hv.agent(agent);
      expect(await hvAgent.configure(armed)).toMatchObject({ enabled: true, blocked: null });

      // 1 allow, then denials (deploy needs ring 1): the 10th decision reaches 9/10 = 0.9 and trips.
      await first.session.authorize({ agentDid: agent, actionId: actions.edit.actionId });
      for (let i = 0; i < 8; i++) await first.session.authorize({ agentDid: agent, actionId: actions.deploy.actionId });
      await eventually(
        () => hvAgent.status(),
        (s) => s.windowCalls === 9,
      );
      expect((await hvAgent.status()).blocked).toBeNull();
      await first.session.authorize({ agentDid: agent, actionId: actions.deploy.actionId });
      const crossedAt = Date.now();
      // The very next call in the session where it crossed is refused: the session tripped at its own decision.
      expect(await first.session.authorize({ agentDid: agent, actionId: actions.edit.actionId })).toMatchObject({
        allowed: false,
        reason: 'agent_killed',
      });
      // Every other session of the identity refuses within a second.
      await eventually(
        () => second.session.view(),
        (v) => v.participants.find((p) => p.agentDid === agent)?.status === 'killed',
      );
      expect(Date.now() - crossedAt).toBeLessThan(1000);

      const status = await eventually(
        () => hvAgent.status(),
        (s) => s.blocked !== null,
      );
      expect(status.blocked).toMatchObject({ trigger: 'deny_rate', reason: 'kill_switch_triggered' });
      for (const { session } of [first, second]) {
        const view = await eventually(
          () => session.view(),
          (v) => v.participants.find((p) => p.agentDid === agent)?.status === 'killed',
        );
        expect(view.participants.find((p) => p.agentDid === agent)?.kill?.reason).toBe('behavioral_drift');
        const glass = (await session.auditTail(30)).find((e) => e.entry.kind === 'break_glass_used');
        expect(glass?.payload).toMatchObject({
          reason: 'kill_switch_triggered',
          agent_id: agent,
          deny_rate_window_seconds: 300,
        });
      }
      expect((await first.session.terminate()).killSwitchTriggered).toBe(true);
      expect((await second.session.terminate()).killSwitchTriggered).toBe(false);
      expect(await readKillSwitchBlock(testPool(), agent)).toMatchObject({ trigger: 'deny_rate' });

      const third = await newSession(ctx, taskQueue, calm);
      const refused = await expectHvError(
        third.session.join({ agentDid: agent, sigmaRaw: 0.9 }),
        ErrorType.KillSwitchTripped,
      );
      expect(refused.details).toMatchObject({ agentId: agent });
      await expectHvError(third.hv.createSession({ creatorDid: agent }), ErrorType.KillSwitchTripped);
    });

    // A new worker (restart): the block is still there, in the agent workflow and in Postgres.
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, hv } = await newSession(ctx, taskQueue, calm);
      await expectHvError(session.join({ agentDid: agent, sigmaRaw: 0.9 }), ErrorType.KillSwitchTripped);
      expect((await hv.agent(agent).status()).blocked).not.toBeNull();

      // The operator lifts it; the identity starts again with an empty window.
      await expectHvError(
        hv.agent(agent).unblock({ reason: '', authorizedBy: 'did:mesh:sre' }),
        ErrorType.InvalidInput,
      );
      const lifted = await hv.agent(agent).unblock({ reason: 'false positive', authorizedBy: 'did:mesh:sre' });
      expect(lifted).toMatchObject({ blocked: null, windowCalls: 0 });
      await eventually(
        () => readKillSwitchBlock(testPool(), agent),
        (b) => b === null,
      );
      expect(await session.join({ agentDid: agent, sigmaRaw: 0.9 })).toMatchObject({ ring: 2 });
    });
  });

  it('trips on a crossing spread over two sessions, counting batched reports once, with no history per decision', async () => {
    const taskQueue = uniqueTaskQueue('kill-switch-spread');
    const agent = did('spread');
    await withWorker(ctx, { taskQueue }, async () => {
      const first = await newSession(ctx, taskQueue, calm);
      const second = await newSession(ctx, taskQueue, calm);
      const hvAgent = first.hv.agent(agent);
      for (const { session } of [first, second]) {
        await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
        await session.activate();
      }
      await hvAgent.configure(armed);
      const identity = ctx.client.workflow.getHandle(agentWorkflowId(agent));
      // Five denials in each session: neither session's copy reaches min_calls; the identity sees ten.
      for (let i = 0; i < 5; i++)
        for (const { session } of [first, second])
          await session.authorize({ agentDid: agent, actionId: actions.deploy.actionId });
      const status = await eventually(
        () => hvAgent.status(),
        (s) => s.blocked !== null,
      );
      expect(status).toMatchObject({ windowCalls: 10, windowDenies: 10, blocked: { trigger: 'deny_rate' } });
      for (const { session } of [first, second])
        await eventually(
          () => session.view(),
          (v) => v.participants.find((p) => p.agentDid === agent)?.status === 'killed',
        );
      // Ten decisions reached the identity in a few batched reports (one per flush of each session), not one each.
      const signals = (await identity.fetchHistory()).events!.flatMap((e) =>
        e.workflowExecutionSignaledEventAttributes ? [e.workflowExecutionSignaledEventAttributes.signalName] : [],
      );
      expect(signals).not.toContain('recordDecision');
      const reports = signals.filter((name) => name === 'reportDecisions').length;
      expect(reports).toBeGreaterThan(0);
      expect(reports).toBeLessThan(10);
      const glass = (await second.session.auditTail(30)).find((e) => e.entry.kind === 'break_glass_used');
      expect(glass?.payload).toMatchObject({ detected_by: 'identity' });
    });
  });

  it('lets an operator trip an identity (reason and authorizedBy required, idempotent)', async () => {
    const taskQueue = uniqueTaskQueue('operator-trip');
    const agent = did('suspect');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, hv } = await newSession(ctx, taskQueue, calm);
      await session.join({ agentDid: agent, sigmaRaw: 0.8 });
      const a = hv.agent(agent);
      await a.configure(armed);
      await expectHvError(a.trip({ reason: 'looks wrong', authorizedBy: '' }), ErrorType.InvalidInput);
      const tripped = await a.trip({ reason: 'looks wrong', authorizedBy: 'did:mesh:sre' });
      expect(tripped.blocked).toMatchObject({ trigger: 'operator', reason: 'looks wrong' });
      const again = await a.trip({ reason: 'again', authorizedBy: 'did:mesh:sre' });
      expect(again.blocked).toEqual(tripped.blocked);
      await eventually(
        () => session.view(),
        (v) => v.participants.find((p) => p.agentDid === agent)?.status === 'killed',
      );
      const glass = (await session.auditTail(20)).filter((e) => e.entry.kind === 'break_glass_used');
      expect(glass.map((e) => (e.payload as { reason: string }).reason)).toEqual(['kill_switch_operator_trip']);
    });
  });

  it('never trips a disabled switch', async () => {
    const taskQueue = uniqueTaskQueue('disabled');
    const agent = did('noisy');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, hv } = await newSession(ctx, taskQueue, calm);
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await session.activate();
      for (let i = 0; i < 12; i++) await session.authorize({ agentDid: agent, actionId: actions.deploy.actionId });
      const status = await eventually(
        () => hv.agent(agent).status(),
        (s) => s.windowCalls === 12,
      );
      expect(status).toMatchObject({ enabled: false, blocked: null, windowDenies: 12 });
    });
  });
});

import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionHandle } from '../../client/hypervisor-client.js';
import { generateInternalKey, internalSignerFromPem } from '../../store/internal-crypto.js';
import { readKillSwitchBlock } from '../../store/kill-switch.js';
import { readLedger, readStanding } from '../../store/liability.js';
import * as msg from '../../workflows/messages.js';
import { testActivities, testInternalSigner, testPool } from '../helpers/audit.js';
import { allActions, did, eventually, newSession } from '../helpers/session.js';
import { StepService } from '../helpers/step-service.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

/** A key no worker holds: what a forger can sign with. */
const forger = internalSignerFromPem(generateInternalKey().privatePem);
/** No breach kills here: only forged messages could act. */
const calm = { breachPolicy: { baselineRate: 10_000 } };
const armed = { enabled: true, window_seconds: 300, deny_rate_threshold: 0.9, min_calls: 10 };

async function withForgeryWorker<T>(fn: (taskQueue: string, service: StepService) => Promise<T>): Promise<T> {
  const taskQueue = uniqueTaskQueue('forgery');
  const service = await StepService.start();
  try {
    return await withWorker(
      ctx,
      { taskQueue, activities: testActivities({ stepBaseUrl: service.url, taskQueue }) },
      () => fn(taskQueue, service),
    );
  } finally {
    await service.close();
  }
}

/** The session's entries of `kind` among its latest 100. */
async function entriesOf(session: SessionHandle, kind: string) {
  return (await session.auditTail(100)).filter((e) => e.entry.kind === kind);
}

/** Waits until the session has recorded `count` entries of `kind`. */
const rejectedEntries = (session: SessionHandle, kind: string, count: number) =>
  eventually(
    () => entriesOf(session, kind),
    (list) => list.length >= count,
  );

/** What a forgery must not change about an agent: its standing and ledger in Postgres, its state in the session. */
async function footprint(session: SessionHandle, agentDid: string) {
  const participant = (await session.view()).participants.find((p) => p.agentDid === agentDid);
  return {
    standing: await readStanding(testPool(), agentDid),
    ledger: (await readLedger(testPool(), agentDid)).map((e) => e.entryType),
    status: participant?.status,
    block: await readKillSwitchBlock(testPool(), agentDid),
  };
}

const sagaManifest = [{ actionId: 'act-a', name: 'a', reversibility: 'full' as const, undoApi: '/undo' }];

describe('forged internal messages on the real server', () => {
  it('refuses saga events from a made-up saga, and a real saga’s events naming an agent that is not in it', async () => {
    await withForgeryWorker(async (taskQueue, service) => {
      const { session, hv } = await newSession(ctx, taskQueue, calm);
      const worker = did('worker');
      const victim = did('victim');
      for (const agentDid of [worker, victim]) await session.join({ agentDid, sigmaRaw: 0.9, actions: sagaManifest });
      await session.activate();
      const before = await footprint(session, victim);
      const handle = ctx.client.workflow.getHandle(session.workflow.workflowId);

      // A made-up saga escalating with the victim as root cause: without binding this slashed it to σ 0.
      const madeUp = `made-up-${randomUUID()}`;
      // Its registration, unsigned and with a wrong key, is refused first.
      const registration = { sagaId: madeUp, steps: [{ stepId: 'x', agentDid: victim }] };
      await handle.signal(msg.registerSagaSignal, registration);
      await handle.signal(msg.registerSagaSignal, {
        ...registration,
        auth: forger.sign(msg.registerSagaSignal.name, handle.workflowId, registration),
      });
      await handle.signal(msg.recordSagaEventSignal, { sagaId: madeUp, kind: 'saga_started', details: {} });
      await handle.signal(msg.recordSagaEventSignal, {
        sagaId: madeUp,
        kind: 'saga_escalated',
        details: { error: 'forged', rootCause: victim },
      });

      // A real saga (started by the client, so it registers itself, signed) whose only agent is `worker`.
      service.on('/a/do', () => 'hang');
      const saga = await hv.startSaga(
        {
          name: 'real',
          session_id: session.sessionId,
          steps: [{ id: 'a', action_id: 'act-a', agent: worker, execute_api: '/a/do', undo_api: '/a/undo' }],
        },
        { options: { retryInitialIntervalMs: 50, heartbeatTimeoutMs: 30_000 } },
      );
      await eventually(
        () => saga.progress(),
        (v) => v.steps[0]?.state === 'executing',
      );
      await rejectedEntries(session, 'saga_step_started', 1);
      await handle.signal(msg.recordSagaEventSignal, {
        sagaId: saga.sagaId,
        kind: 'saga_fault_attributed',
        details: { shares: { [victim]: 1 }, value: 1, rootCause: victim },
      });
      await handle.signal(msg.recordSagaEventSignal, {
        sagaId: saga.sagaId,
        kind: 'saga_step_failed',
        stepId: 'a',
        agentDid: victim,
        details: {},
      });
      await handle.signal(msg.recordSagaEventSignal, { sagaId: saga.sagaId, kind: 'saga_escalated', stepId: 'zz' });

      const rejected = await rejectedEntries(session, 'recordSagaEvent_rejected', 5);
      expect(rejected.map((e) => String((e.payload as { error: string }).error))).toEqual([
        expect.stringContaining('neither launched nor registered'),
        expect.stringContaining('neither launched nor registered'),
        expect.stringContaining(`agent ${victim} is not an agent of saga`),
        expect.stringContaining(`agent ${victim} is not an agent of saga`),
        expect.stringContaining('step zz is not a step of saga'),
      ]);
      // Nothing else happened: no slash, no saga outcome recorded, the victim untouched.
      expect(await entriesOf(session, 'slash')).toEqual([]);
      expect(await entriesOf(session, 'saga_escalated')).toEqual([]);
      expect(await footprint(session, victim)).toEqual(before);
      expect(
        (await entriesOf(session, 'registerSaga_rejected')).map((e) => (e.payload as { error: string }).error),
      ).toEqual(['unsigned internal message', `signed with an unknown key ${forger.kid}`]);
      // The genuine saga's own events were recorded.
      expect((await entriesOf(session, 'saga_started')).map((e) => (e.payload as { sagaId: string }).sagaId)).toEqual([
        saga.sagaId,
      ]);

      await saga.cancel();
      expect((await saga.result()).status).toBe('compensated');
      await rejectedEntries(session, 'saga_compensated', 1);
      await session.terminate();
    });
  });

  it('refuses kill-switch notices that are unsigned, signed with a wrong key, for another session, or replayed', async () => {
    await withForgeryWorker(async (taskQueue) => {
      const { session } = await newSession(ctx, taskQueue, calm);
      const victim = did('victim');
      await session.join({ agentDid: victim, sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      const before = await footprint(session, victim);
      const target = session.workflow.workflowId;
      const handle = ctx.client.workflow.getHandle(target);
      const notice = {
        agentDid: victim,
        event: 'tripped' as const,
        trigger: 'operator' as const,
        reason: 'forged',
        authorizedBy: 'did:mesh:nobody',
        trippingSessionId: null,
        decisionId: null,
        windowSeconds: 300,
        seq: 1_000_000,
      };
      const name = msg.killSwitchNoticeSignal.name;
      await handle.signal(msg.killSwitchNoticeSignal, notice);
      await handle.signal(msg.killSwitchNoticeSignal, { ...notice, auth: forger.sign(name, target, notice) });
      // Signed by a worker's key, but for another session: the signature names its target.
      const elsewhere = msg.sessionWorkflowId(`other-${randomUUID()}`);
      await handle.signal(msg.killSwitchNoticeSignal, {
        ...notice,
        auth: testInternalSigner.sign(name, elsewhere, notice),
      });
      // Signed for this session, but stamped two hours ago (copied out of an old history).
      const stale = testInternalSigner.sign(name, target, notice, Date.now() - 2 * 3600_000);
      await handle.signal(msg.killSwitchNoticeSignal, { ...notice, auth: stale });

      const rejected = await rejectedEntries(session, 'killSwitchNotice_rejected', 4);
      expect(rejected.map((e) => (e.payload as { error: string }).error)).toEqual([
        'unsigned internal message',
        `signed with an unknown key ${forger.kid}`,
        'bad signature',
        'expired signature',
      ]);
      expect(await entriesOf(session, 'break_glass_used')).toEqual([]);
      expect(await entriesOf(session, 'kill')).toEqual([]);
      expect(await footprint(session, victim)).toEqual(before);
      expect(before.status).toBe('active');
      expect(await session.authorize({ agentDid: victim, actionId: 'read-docs' })).toMatchObject({ allowed: true });

      // A genuine notice (signed for this session, numbered) is applied once; the same message again is a replay.
      const genuine = { ...notice, auth: testInternalSigner.sign(name, target, notice) };
      await handle.signal(msg.killSwitchNoticeSignal, genuine);
      await handle.signal(msg.killSwitchNoticeSignal, genuine);
      const all = await rejectedEntries(session, 'killSwitchNotice_rejected', 5);
      expect((all[4]!.payload as { error: string }).error).toContain('is not newer than 1000000');
      expect(await entriesOf(session, 'break_glass_used')).toHaveLength(1);
      expect((await session.terminate()).killSwitchTriggered).toBe(true);
    });
  });

  it('lets an identity count decisions and trips only from sessions that registered it, signed', async () => {
    await withForgeryWorker(async (taskQueue) => {
      const { session, hv } = await newSession(ctx, taskQueue, calm);
      const agent = did('innocent');
      await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      const identity = hv.agent(agent);
      await identity.configure(armed);
      const before = await footprint(session, agent);
      const target = msg.agentWorkflowId(agent);
      const handle = ctx.client.workflow.getHandle(target);
      const ghost = `ghost-${randomUUID()}`;
      const denies = Array.from({ length: 10 }, (_, i) => ({
        n: i + 1,
        kind: 'deny',
        atMs: Date.now(),
        decisionId: `${ghost}#${i + 1}`,
      }));

      // A forged registration of the ghost session (unsigned) is refused: the ghost stays unregistered.
      await handle.signal(msg.registerSessionSignal, { sessionId: ghost });
      // Ten legacy one-at-a-time denies: what blocked an identity that had made no call.
      for (const d of denies)
        await handle.signal(msg.recordDecisionSignal, { kind: 'deny', sessionId: ghost, decisionId: d.decisionId });
      const feed = { sessionId: ghost, decisions: denies };
      const reportName = msg.reportDecisionsSignal.name;
      await handle.signal(msg.reportDecisionsSignal, feed);
      await handle.signal(msg.reportDecisionsSignal, { ...feed, auth: forger.sign(reportName, target, feed) });
      // Signed with a worker's key, yet from a session that never registered the identity.
      await handle.signal(msg.reportDecisionsSignal, {
        ...feed,
        auth: testInternalSigner.sign(reportName, target, feed),
      });
      // A registered session's name on an unsigned trip report, and a ghost's on a signed one.
      const trip = { sessionId: session.sessionId, decisionId: 'forged', atMs: Date.now() };
      await handle.signal(msg.reportKillSwitchTripSignal, trip);
      const ghostTrip = { ...trip, sessionId: ghost };
      await handle.signal(msg.reportKillSwitchTripSignal, {
        ...ghostTrip,
        auth: testInternalSigner.sign(msg.reportKillSwitchTripSignal.name, target, ghostTrip),
      });

      const status = await eventually(
        () => identity.status(),
        (s) => (s.rejected?.count ?? 0) >= 16,
      );
      expect(status.rejected?.count).toBe(16);
      expect(status.rejected?.latest.map((r) => `${r.name}: ${r.reason}`).slice(-5)).toEqual([
        'reportDecisions: unsigned internal message',
        `reportDecisions: signed with an unknown key ${forger.kid}`,
        `reportDecisions: session "${ghost}" never registered this identity`,
        'reportKillSwitchTrip: unsigned internal message',
        `reportKillSwitchTrip: session "${ghost}" never registered this identity`,
      ]);
      expect(status.rejected?.latest[0]).toMatchObject({
        name: 'registerSession',
        reason: 'unsigned internal message',
      });
      expect(status.rejected?.latest[1]).toMatchObject({ name: 'recordDecision' });
      expect(status).toMatchObject({ blocked: null, windowCalls: 0 });
      expect(await footprint(session, agent)).toEqual(before);
      expect(await entriesOf(session, 'break_glass_used')).toEqual([]);

      // The genuine feed still counts: the session's own decisions reach the window.
      await session.authorize({ agentDid: agent, actionId: 'read-docs' });
      await eventually(
        () => identity.status(),
        (s) => s.windowCalls === 1,
      );
      await session.terminate();
    });
  });

  it('refuses a forged hand-off in the saga’s validator, leaving no history and the step running', async () => {
    await withForgeryWorker(async (taskQueue, service) => {
      const { session, hv } = await newSession(ctx, taskQueue, calm);
      const worker = did('worker');
      await session.join({ agentDid: worker, sigmaRaw: 0.9, actions: sagaManifest });
      await session.activate();
      service.on('/a/do', () => 'hang');
      const saga = await hv.startSaga(
        {
          name: 'handoff',
          session_id: session.sessionId,
          steps: [{ id: 'a', action_id: 'act-a', agent: worker, execute_api: '/a/do', undo_api: '/a/undo' }],
        },
        { options: { retryInitialIntervalMs: 50, heartbeatTimeoutMs: 30_000 } },
      );
      await eventually(
        () => saga.progress(),
        (v) => v.steps[0]?.state === 'executing',
      );
      // The update events only: the step's own retries may add activity and task events meanwhile.
      const events = async () =>
        ((await saga.workflow.fetchHistory()).events ?? [])
          .map((e) => Object.keys(e).find((k) => k.endsWith('Attributes')))
          .filter((k) => k?.startsWith('workflowExecutionUpdate'));
      const historyBefore = await events();
      const target = saga.workflow.workflowId;
      const body = { agentDid: worker };
      for (const forged of [
        body,
        { ...body, auth: forger.sign(msg.handOffStepsUpdate.name, target, body) },
        { ...body, auth: testInternalSigner.sign(msg.handOffStepsUpdate.name, msg.sagaWorkflowId('other'), body) },
      ])
        await expect(saga.workflow.executeUpdate(msg.handOffStepsUpdate, { args: [forged] })).rejects.toBeInstanceOf(
          WorkflowUpdateFailedError,
        );
      expect(await events()).toEqual(historyBefore);
      expect((await saga.progress()).steps[0]).toMatchObject({ state: 'executing', agentDid: worker });

      // The genuine hand-off (signed for this saga) goes through.
      const genuine = { ...body, auth: testInternalSigner.sign(msg.handOffStepsUpdate.name, target, body) };
      expect(await saga.workflow.executeUpdate(msg.handOffStepsUpdate, { args: [genuine] })).toMatchObject([
        { stepId: 'a', disposition: 'failed' },
      ]);
      // …and leaves its update in history, which the comparison above would have seen for a forged one.
      expect((await events()).length).toBeGreaterThan(historyBefore.length);
      expect((await saga.result()).status).not.toBe('completed');
      await session.terminate();
    });
  });
});

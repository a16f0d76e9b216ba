import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionHandle } from '../../client/hypervisor-client.js';
import { AUDIT_FORMAT_V2 } from '../../domain/audit-chain.js';
import { CHAIN_REBASED_KIND, type RebasePayload } from '../../domain/audit-rebase.js';
import type { StoredEntry } from '../../domain/audit-verify.js';
import { streamAuditEntries } from '../../store/audit.js';
import { AUDIT_V2_PATCH } from '../../workflows/session/audit-outbox.js';
import { testPool, verifyOptions } from '../helpers/audit.js';
import { actions, allActions, auditSettled, did, eventually, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

const EventType = temporal.api.enums.v1.EventType;

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

async function storedRows(sessionId: string): Promise<StoredEntry[]> {
  const rows: StoredEntry[] = [];
  for await (const row of streamAuditEntries(testPool(), sessionId)) rows.push(row);
  return rows;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const historyOf = async (session: SessionHandle): Promise<HistoryEvent[]> =>
  (await session.workflow.fetchHistory()).events ?? [];

type EventId = HistoryEvent['eventId'];

/** The id of the first WorkflowTaskCompleted event after `fromIndex`. */
function taskCompletedAfter(events: readonly HistoryEvent[], fromIndex: number): EventId {
  const found = events.slice(fromIndex + 1).find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  if (!found) throw new Error(`no workflow task completed after event index ${fromIndex}`);
  return found.eventId;
}

/**
 * What `temporal workflow reset --event-id` does: a new run that replays the run's history up to the event. By default
 * the server re-applies the signals and updates received after it, as the CLI does; `reapply: false` excludes them.
 */
async function resetTo(
  session: SessionHandle,
  runId: string,
  workflowTaskFinishEventId: EventId,
  { reapply = true } = {},
): Promise<string> {
  const Exclude = temporal.api.enums.v1.ResetReapplyExcludeType;
  const reset = ctx.client.workflowService.resetWorkflowExecution({
    namespace: ctx.client.options.namespace,
    workflowExecution: { workflowId: session.workflow.workflowId, runId },
    workflowTaskFinishEventId,
    requestId: randomUUID(),
    reason: 'operator recovery (test)',
    ...(reapply
      ? {}
      : {
          resetReapplyExcludeTypes: [
            Exclude.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL,
            Exclude.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE,
          ],
        }),
  }) as Promise<temporal.api.workflowservice.v1.IResetWorkflowExecutionResponse>;
  const { runId: newRunId } = await reset;
  expect(newRunId).toBeTruthy();
  return newRunId!;
}

/** Waits until the reset run answers, has flushed what it recorded, and kept its audit trail working. */
async function settledOn(session: SessionHandle, runId: string) {
  const view = await eventually(
    () => session.view(),
    (v) =>
      v.runId === runId &&
      (v.audit.fault !== null || (v.audit.pending === 0 && v.audit.persistedSeq === v.audit.entries)),
  );
  expect(view.audit.fault).toBeNull();
  return view;
}

/** The chain in Postgres: gapless from 1, verified against the commitment, the workflow result and the checkpoints. */
async function expectWholeChainVerifies(session: SessionHandle, commitment: { entryCount: number; root: string }) {
  const rows = await storedRows(session.sessionId);
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: commitment.entryCount }, (_, i) => i + 1));
  expect(commitment.root).toBe(rows.at(-1)!.hash);
  const report = await session.verifyAudit(verifyOptions());
  expect(report.problems, JSON.stringify(report.problems)).toEqual([]);
  expect(report.ok).toBe(true);
  const anchors = report.anchors.map((a) => [a.source, a.matches, a.signature]);
  expect(anchors).toContainEqual(['commitment', true, 'valid']);
  expect(anchors).toContainEqual(['workflow result', true, 'valid']);
  expect(anchors).toContainEqual([`final checkpoint at ${commitment.entryCount}`, true, 'valid']);
  return { rows, report };
}

/**
 * A session whose run persisted entries past a reset point, then the reset: two authorizations, the reset point (the
 * task that started the last flush: the reset run sends that batch again, and the store already has it hash for
 * hash), three more authorizations the old run persisted (the abandoned branch).
 */
async function resetPastPersistedEntries(taskQueue: string, options: { reapply?: boolean } = {}) {
  const { session } = await newSession(ctx, taskQueue, { enableBlockchainCommitment: true });
  const agent = did('a');
  await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: allActions });
  await session.activate();
  await session.authorize({ agentDid: agent, actionId: actions.edit.actionId });
  await session.authorize({ agentDid: agent, actionId: actions.read.actionId });
  await auditSettled(session);
  const oldRun = (await session.view()).runId;
  const early = await historyOf(session);
  const lastFlushTimer = early.findLastIndex((e) => e.eventType === EventType.EVENT_TYPE_TIMER_FIRED);
  const resetPoint = taskCompletedAfter(early, lastFlushTimer);

  for (let i = 0; i < 3; i++) await session.authorize({ agentDid: agent, actionId: actions.edit.actionId });
  await auditSettled(session);
  const abandonedHead = (await session.view()).audit;
  const storedBefore = await storedRows(session.sessionId);
  expect(storedBefore.at(-1)).toMatchObject({ seq: abandonedHead.entries, hash: abandonedHead.head });

  const newRun = await resetTo(session, oldRun, resetPoint, options);
  await eventually(
    () => session.view(),
    (v) => v.runId === newRun,
  );
  return { session, agent, oldRun, newRun, abandonedHead, storedBefore };
}

/** The chain holds the abandoned rows untouched, then one marker naming them, then the reset run's entries. */
function expectOneRebase(
  rows: StoredEntry[],
  scenario: Awaited<ReturnType<typeof resetPastPersistedEntries>>,
  warnings: string[],
): void {
  const { oldRun, newRun, abandonedHead, storedBefore } = scenario;
  expect(rows.slice(0, storedBefore.length)).toEqual(storedBefore);
  const markers = rows.filter((r) => r.kind === CHAIN_REBASED_KIND);
  expect(markers).toHaveLength(1);
  const marker = markers[0]!;
  expect(marker).toMatchObject({ seq: abandonedHead.entries + 1, runId: newRun, format: AUDIT_FORMAT_V2 });
  const payload = JSON.parse(marker.payload!) as RebasePayload;
  expect(payload.storedHead).toEqual({ seq: abandonedHead.entries, hash: abandonedHead.head });
  expect(payload.abandoned).toMatchObject({ toSeq: abandonedHead.entries, runIds: [oldRun] });
  const { fromSeq } = payload.abandoned;
  expect(fromSeq).toBeLessThanOrEqual(abandonedHead.entries);
  expect(rows.filter((r) => r.seq >= fromSeq && r.seq < marker.seq).every((r) => r.runId === oldRun)).toBe(true);
  expect(rows.filter((r) => r.seq > marker.seq).every((r) => r.runId === newRun)).toBe(true);
  // What the reset run had recorded but not persisted when the store reported the branch moved behind the marker.
  expect(payload.relinked.count).toBeGreaterThan(0);
  expect(payload.relinked.count).toBeLessThanOrEqual(rows.length - marker.seq);
  expect(rows.every((r) => r.format === AUDIT_FORMAT_V2)).toBe(true);
  expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`^entry ${marker.seq} \\(chain_rebased\\)`)));
}

describe('temporal workflow reset of a session', () => {
  it('continues the chain after the entries the abandoned run persisted past the reset point', async () => {
    const taskQueue = uniqueTaskQueue('reset');
    await withWorker(ctx, { taskQueue }, async () => {
      const scenario = await resetPastPersistedEntries(taskQueue);
      const { session, agent, newRun, abandonedHead } = scenario;
      // The reset run governs as before: no AuditUnavailable, and its entries land after the stored head.
      const decision = await session.authorize({ agentDid: agent, actionId: actions.edit.actionId });
      expect(decision.allowed).toBe(true);
      const after = await settledOn(session, newRun);
      expect(after.audit.entries).toBeGreaterThan(abandonedHead.entries + 1);
      await session.authorize({ agentDid: agent, actionId: actions.read.actionId });
      const tail = await session.auditTail(100);
      const view = await settledOn(session, newRun);
      expect(tail.at(-1)?.hash).toBe(view.audit.head);
      expect(tail.map((l) => l.entry.kind)).toContain(CHAIN_REBASED_KIND);

      const commitment = await session.terminate({ reason: 'done' });
      expect(commitment.audit).toEqual({ persistedSeq: commitment.entryCount, fault: null });
      const { rows, report } = await expectWholeChainVerifies(session, commitment);
      expectOneRebase(rows, scenario, report.warnings);
    });
  });

  it('moves the commitment along when the store reports the branch only after the session closed', async () => {
    const taskQueue = uniqueTaskQueue('reset-close');
    await withWorker(ctx, { taskQueue }, async () => {
      // Nothing re-applied: the reset run's first entries of its own are the termination's, recorded at the close.
      const scenario = await resetPastPersistedEntries(taskQueue, { reapply: false });
      const { session, abandonedHead } = scenario;
      const commitment = await session.terminate({ reason: 'done' });
      expect(commitment.entryCount).toBeGreaterThan(abandonedHead.entries + 1);
      expect(commitment.audit).toEqual({ persistedSeq: commitment.entryCount, fault: null });
      const { rows, report } = await expectWholeChainVerifies(session, commitment);
      expectOneRebase(rows, scenario, report.warnings);
      expect(rows.at(-1)).toMatchObject({ kind: 'session_archived', hash: commitment.root });
    });
  });

  it('goes on without a rebase when nothing was persisted past the reset point', async () => {
    const taskQueue = uniqueTaskQueue('reset-clean');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { enableBlockchainCommitment: true });
      const agent = did('a');
      await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      await session.authorize({ agentDid: agent, actionId: actions.edit.actionId });
      await auditSettled(session);
      const before = await session.view();
      const events = await historyOf(session);
      const lastTask = events.findLastIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
      // The reset run replays every entry the old run recorded: in v2 they are the same links, run id aside.
      const newRun = await resetTo(session, before.runId, events[lastTask]!.eventId);
      await eventually(
        () => session.view(),
        (v) => v.runId === newRun,
      );
      expect((await session.view()).audit).toMatchObject({ entries: before.audit.entries, head: before.audit.head });
      await session.authorize({ agentDid: agent, actionId: actions.read.actionId });
      const after = await settledOn(session, newRun);
      expect(after.audit.entries).toBe(before.audit.entries + 1);

      const commitment = await session.terminate({ reason: 'done' });
      const { rows } = await expectWholeChainVerifies(session, commitment);
      expect(rows.some((r) => r.kind === CHAIN_REBASED_KIND)).toBe(false);
      expect(rows.slice(0, before.audit.entries).every((r) => r.runId === before.runId)).toBe(true);
      expect(rows.slice(before.audit.entries).every((r) => r.runId === newRun)).toBe(true);
    });
  });
});

describe('the audit format of a session’s runs', () => {
  it('is decided by one patch marker in a new session’s first run and carried through continue-as-new', async () => {
    const taskQueue = uniqueTaskQueue('reset-format');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, {
        breachPolicy: { baselineRate: 10_000 },
        enableBlockchainCommitment: true,
      });
      const agent = did('a');
      await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: allActions });
      await session.activate();
      const firstRun = (await session.view()).runId;
      for (let i = 0; i < 400 && (await session.view()).runId === firstRun; i++)
        await session.authorize({ agentDid: agent, actionId: actions.edit.actionId });
      const { runId: nextRun } = await eventually(
        () => session.view(),
        (v) => v.runId !== firstRun,
      );
      // The audit format's own patch marker (a new session's first run also records the creator-admission patch and
      // its local activity's marker).
      const markers = async (runId: string) =>
        ((await ctx.client.workflow.getHandle(session.workflow.workflowId, runId).fetchHistory()).events ?? []).filter(
          (e) =>
            e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED &&
            Object.values(e.markerRecordedEventAttributes?.details ?? {})
              .flatMap((p) => p.payloads ?? [])
              .some((p) =>
                Buffer.from(p.data ?? [])
                  .toString('utf8')
                  .includes(AUDIT_V2_PATCH),
              ),
        ).length;
      expect(await markers(firstRun)).toBe(1);
      expect(await markers(nextRun)).toBe(0);
      const commitment = await session.terminate();
      const { rows } = await expectWholeChainVerifies(session, commitment);
      expect(new Set(rows.map((r) => r.runId))).toEqual(new Set([firstRun, nextRun]));
      expect(rows.every((r) => r.format === AUDIT_FORMAT_V2)).toBe(true);
    });
  });
});

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionHandle } from '../../client/hypervisor-client.js';
import type { SagaDefinitionInput } from '../../domain/saga-dsl.js';
import { streamAuditEntries } from '../../store/audit.js';
import { testPool, verifyOptions } from '../helpers/audit.js';
import { did, eventually, newSession } from '../helpers/session.js';
import { StepService } from '../helpers/step-service.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';
import { killWorker, spawnWorker } from '../helpers/worker-process.js';

const SESSIONS = 4;
const SAGAS = 3;
/** Every session keeps authorizing until it has done this many after the kill. */
const AFTER_KILL = 5;
const fast = { retryInitialIntervalMs: 50, heartbeatTimeoutMs: 2000 };
const manifest = ['edit-doc', 'act-a', 'act-hold', 'act-fail'].map((actionId) => ({
  actionId,
  name: actionId,
  reversibility: 'full' as const,
  undoApi: '/undo',
}));

let ctx: TemporalTestContext;
let service: StepService;
const workers: { name: string; child: ChildProcess }[] = [];
beforeAll(async () => {
  ctx = await connectTestTemporal();
  service = await StepService.start();
});
afterAll(async () => {
  for (const { child } of workers) if (child.exitCode === null && child.signalCode === null) await killWorker(child);
  await service?.close();
  await ctx?.close();
});

async function activeSession(taskQueue: string) {
  const f = await newSession(ctx, taskQueue, {
    enableBlockchainCommitment: true,
    breachPolicy: { baselineRate: 10_000 },
  });
  const agents = [did('a1'), did('a2')];
  for (const agentDid of agents) await f.session.join({ agentDid, sigmaRaw: 0.9, actions: manifest });
  await f.session.activate();
  return { ...f, agents };
}

const step = (id: string, agent: string, extra: Record<string, unknown> = {}) => ({
  id,
  action_id: `act-${id}`,
  agent,
  execute_api: `/${id}/do`,
  undo_api: `/${id}/undo`,
  ...extra,
});

/** Terminates the session and checks its chain: signed commitment, contiguous seqs, verified, every decision there. */
async function closeAndVerify(session: SessionHandle, decisions?: number): Promise<void> {
  const commitment = await session.terminate();
  expect(commitment.entryCount).toBeGreaterThan(0);
  const seqs: number[] = [];
  let decided = 0;
  for await (const row of streamAuditEntries(testPool(), session.sessionId)) {
    seqs.push(row.seq);
    if (row.kind === 'decision') decided += 1;
  }
  expect(seqs).toEqual(Array.from({ length: commitment.entryCount }, (_, i) => i + 1));
  if (decisions !== undefined) expect(decided).toBe(decisions);
  const report = await session.verifyAudit(verifyOptions());
  if (report.problems.length > 0) await dumpHistory(session);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

/** A chain that does not verify: keep the session's history for a replay (test-results/, git-ignored). */
async function dumpHistory(session: SessionHandle): Promise<void> {
  const history = await session.workflow.fetchHistory();
  mkdirSync('test-results/two-workers', { recursive: true });
  const file = `test-results/two-workers/${session.sessionId}.json`;
  writeFileSync(file, JSON.stringify(history));
  console.error(`two-workers: the history of ${session.sessionId} is in ${file}`);
}

/**
 * Issue 14 item 5: two production worker processes share one task queue under load; one is SIGKILLed while it holds
 * saga steps and session work in flight. Nothing is lost and the survivor carries on alone.
 */
describe('two workers on one task queue, one killed under load', () => {
  it('loses no session, saga or audit entry, and the survivor serves new work', async () => {
    const taskQueue = uniqueTaskQueue('two-workers');
    // Each worker calls the step service under its own prefix, so a call tells which worker made it.
    const started = await Promise.all(
      ['w1', 'w2'].map((name) => spawnWorker(taskQueue, { HV_STEP_BASE_URL: `${service.url}/${name}/` })),
    );
    started.forEach((child, i) => workers.push({ name: `w${i + 1}`, child }));

    // The first execution of each saga's `hold` step hangs wherever it runs; later attempts succeed.
    const holdCalls = () =>
      service.calls.filter((c) => c.invocation.stepId === 'hold' && c.invocation.mode === 'execute');
    for (const { name } of workers)
      service.on(`/${name}/hold/do`, () => (holdCalls().length <= SAGAS ? 'hang' : { status: 200 }));
    for (const { name } of workers) service.on(`/${name}/fail/do`, () => ({ status: 500 }));

    const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => activeSession(taskQueue)));
    const sagaOwners = await Promise.all(Array.from({ length: SAGAS }, () => activeSession(taskQueue)));
    const sagas = await Promise.all(
      sagaOwners.map((f, i) => {
        const steps = [step('a', f.agents[0]!), step('hold', f.agents[1]!, { retries: 5 })];
        if (i === 0) steps.push(step('fail', f.agents[0]!)); // this one compensates, as designed
        const definition = { name: `load-${i}`, session_id: f.session.sessionId, steps } as SagaDefinitionInput;
        return f.hv.startSaga(definition, { options: fast });
      }),
    );

    // Load: every session authorizes in a loop, before, during and after the kill.
    const state = { killed: false };
    const counts = sessions.map(() => 0);
    const loops = sessions.map(async ({ session, agents }, s) => {
      let afterKill = 0;
      while (!(state.killed && afterKill >= AFTER_KILL)) {
        if (counts[s]! > 500) throw new Error('load loop did not end');
        const decision = await session.authorize({ agentDid: agents[counts[s]! % 2]!, actionId: 'edit-doc' });
        expect(decision.allowed).toBe(true);
        counts[s]! += 1;
        if (state.killed) afterKill += 1;
      }
    });

    // Kill mid-load: every saga holds its step in flight and every session has authorized a few times.
    await eventually(
      async () => ({ holds: holdCalls().length, min: Math.min(...counts) }),
      (v) => v.holds >= SAGAS && v.min >= 3,
      60_000,
    );
    const victim = workers.find(({ name }) => holdCalls().some((c) => c.path.startsWith(`/${name}/`)))!;
    const survivor = workers.find((w) => w !== victim)!;
    await killWorker(victim.child);
    state.killed = true;
    // The victim's held step calls died with it; the survivor's held ones are answered now.
    await eventually(
      async () => service.aborted.filter((p) => p.startsWith(`/${victim.name}/`)).length,
      (n) => n >= 1,
    );
    service.release();

    await Promise.all(loops);
    const views = await Promise.all(sagas.map((saga) => saga.result()));
    expect(views.map((v) => v.status)).toEqual(['compensated', 'completed', 'completed']);
    // Every effect at most once; the completed sagas' effects all applied; the compensated one's undone.
    expect(new Set(service.applied).size).toBe(service.applied.length);
    for (const saga of sagas.slice(1))
      for (const id of ['a', 'hold']) expect(service.applied).toContain(`${saga.sagaId}/${id}/execute`);
    expect(service.applied).toContain(`${sagas[0]!.sagaId}/a/undo`);
    expect(service.applied).toContain(`${sagas[0]!.sagaId}/hold/undo`);

    for (const [s, { session }] of sessions.entries()) await closeAndVerify(session, counts[s]);
    for (const { session } of sagaOwners) await closeAndVerify(session);

    // The survivor carries on alone: new work started after the kill completes, every task of it on the survivor.
    const fresh = await activeSession(taskQueue);
    const saga = await fresh.hv.startSaga(
      { name: 'after-kill', session_id: fresh.session.sessionId, steps: [step('a', fresh.agents[0]!)] },
      { options: fast },
    );
    expect((await saga.result()).status).toBe('completed');
    for (let i = 0; i < 3; i++)
      expect((await fresh.session.authorize({ agentDid: fresh.agents[0]!, actionId: 'edit-doc' })).allowed).toBe(true);
    await closeAndVerify(fresh.session, 3 + 1); // three authorizes and the saga step's own authorization
    const history = await fresh.session.workflow.fetchHistory();
    const identities = new Set(
      (history.events ?? []).flatMap((e) => e.workflowTaskCompletedEventAttributes?.identity ?? []),
    );
    expect([...identities]).toEqual([`${survivor.child.pid}@${hostname()}`]);
  });
});

import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStepActivities } from '../../activities/saga-steps.js';
import type { HypervisorClient, SessionHandle } from '../../client/hypervisor-client.js';
import type { SagaDefinitionInput } from '../../domain/saga-dsl.js';
import { ErrorType } from '../../domain/errors.js';
import { testActivities, testPool } from '../helpers/audit.js';
import { did, eventually, expectHvError, newSession } from '../helpers/session.js';
import { StepService } from '../helpers/step-service.js';
import { killWorker, spawnWorker } from '../helpers/worker-process.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
let service: StepService;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

/** Fast retries so the tests exercise backoff without waiting seconds. */
const fast = { retryInitialIntervalMs: 50, heartbeatTimeoutMs: 2000 };

interface Fixture {
  session: SessionHandle;
  hv: HypervisorClient;
  agents: string[];
  creatorDid: string;
}

/** An active session whose agents declared the saga's actions (ring 2), plus a fresh step service. */
async function sagaSession(taskQueue: string, actions: string[], agentCount = 2): Promise<Fixture> {
  const { session, hv, creatorDid } = await newSession(ctx, taskQueue, { breachPolicy: { baselineRate: 10_000 } });
  const agents = Array.from({ length: agentCount }, (_, i) => did(`agent${i + 1}`));
  const manifest = actions.map((actionId) => ({
    actionId,
    name: actionId,
    reversibility: 'full' as const,
    undoApi: '/undo',
  }));
  for (const agentDid of agents) await session.join({ agentDid, sigmaRaw: 0.9, actions: manifest });
  await session.activate();
  return { session, hv, agents, creatorDid };
}

const step = (id: string, agent: string, extra: Record<string, unknown> = {}) => ({
  id,
  action_id: `act-${id}`,
  agent,
  execute_api: `/${id}/do`,
  undo_api: `/${id}/undo`,
  ...extra,
});

function definition(f: Fixture, steps: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}) {
  return { name: 'test-saga', session_id: f.session.sessionId, steps, ...extra } as SagaDefinitionInput;
}

/** Runs `fn` with a worker whose HTTP steps go to a fresh step service. */
async function withSagaWorker<T>(fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = uniqueTaskQueue('saga');
  service = await StepService.start();
  try {
    return await withWorker(ctx, { taskQueue, activities: testActivities({ stepBaseUrl: service.url }) }, () =>
      fn(taskQueue),
    );
  } finally {
    await service.close();
  }
}

const actionsOf = (ids: string[]) => ids.map((id) => `act-${id}`);

describe('sagaWorkflow', () => {
  it('runs every step once, in order, authorized by its session, and records them in the session audit', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b', 'c']));
      const handle = await f.hv.startSaga(
        definition(f, [step('a', f.agents[0]!), step('b', f.agents[1]!), step('c', f.agents[0]!)]),
        { options: fast },
      );
      const view = await handle.result();
      expect(view.status).toBe('completed');
      expect(view.steps.map((s) => s.state)).toEqual(['committed', 'committed', 'committed']);
      expect(view.steps.map((s) => s.attempts)).toEqual([1, 1, 1]);
      expect(service.paths()).toEqual(['/a/do', '/b/do', '/c/do']);
      expect(service.calls[0]!.invocation).toMatchObject({
        sagaId: handle.sagaId,
        stepId: 'a',
        mode: 'execute',
        idempotencyKey: `${handle.sagaId}/a/execute`,
      });
      const tail = await eventually(
        () => f.session.auditTail(30),
        (t) => t.some((e) => e.entry.kind === 'saga_completed'),
      );
      const kinds = tail.map((e) => e.entry.kind);
      expect(kinds.filter((k) => k === 'saga_step_committed')).toHaveLength(3);
      expect(tail.filter((e) => e.entry.kind === 'decision').length).toBeGreaterThanOrEqual(3);
    });
  });

  it('compensates steps k−1…1 exactly once each, in that order, when step k fails', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b', 'c', 'd']));
      service.on('/c/do', () => ({ status: 500 }));
      const view = await (
        await f.hv.startSaga(
          definition(f, [
            step('a', f.agents[0]!),
            step('b', f.agents[1]!),
            step('c', f.agents[0]!, { retries: 1 }),
            step('d', f.agents[1]!),
          ]),
          { options: fast },
        )
      ).result();
      expect(view.status).toBe('compensated');
      expect(view.steps.map((s) => s.state)).toEqual(['compensated', 'compensated', 'failed', 'pending']);
      expect(service.callsTo('/c/do')).toBe(2); // retries: 1 → two attempts
      expect(view.steps[2]!.attempts).toBe(2);
      expect(service.paths('undo')).toEqual(['/b/undo', '/a/undo']);
      expect(service.callsTo('/d/do')).toBe(0);
    });
  });

  it('times a step out per attempt and retries it exactly as configured', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'slow']));
      service.on('/slow/do', () => 'hang');
      const view = await (
        await f.hv.startSaga(
          definition(f, [step('a', f.agents[0]!), step('slow', f.agents[1]!, { timeout: 1, retries: 2 })]),
          {
            options: fast,
          },
        )
      ).result();
      expect(view.status).toBe('compensated');
      expect(view.steps[1]).toMatchObject({ state: 'failed', error: expect.stringMatching(/timed out/) as unknown });
      expect(service.callsTo('/slow/do')).toBe(3);
      expect(service.paths('undo')).toEqual(['/a/undo']);
    });
  });

  it('fails without compensation when the first step is refused by its session, and never calls the step', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a']));
      const outsider = did('outsider');
      const view = await (await f.hv.startSaga(definition(f, [step('a', outsider)]), { options: fast })).result();
      expect(view.status).toBe('failed');
      expect(view.steps[0]!.error).toMatch(/not authorized/);
      expect(service.calls).toEqual([]);
    });
  });

  it('compensates when a later step is unauthorized (killed agent)', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b']));
      await f.session.kill({ agentDid: f.agents[1]!, reason: 'manual', authorizedBy: f.creatorDid });
      const view = await (
        await f.hv.startSaga(definition(f, [step('a', f.agents[0]!), step('b', f.agents[1]!)]), { options: fast })
      ).result();
      expect(view.status).toBe('compensated');
      expect(view.steps[1]!.error).toMatch(/agent_killed/);
      expect(service.paths()).toEqual(['/a/do', '/a/undo']);
    });
  });

  it('escalates when a compensation finally fails, and records the escalation for liability', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b']));
      service.on('/a/undo', () => ({ status: 503 })).on('/b/do', () => ({ status: 500 }));
      const handle = await f.hv.startSaga(definition(f, [step('a', f.agents[0]!), step('b', f.agents[1]!)]), {
        options: { ...fast, compensationAttempts: 3 },
      });
      const view = await handle.result();
      expect(view.status).toBe('escalated');
      expect(view.steps[0]).toMatchObject({ state: 'compensation_failed' });
      expect(service.callsTo('/a/undo')).toBe(3);
      const { rows } = await testPool().query<{ failed_steps: Array<{ stepId: string }> }>(
        'SELECT failed_steps FROM saga_escalations WHERE saga_id = $1',
        [handle.sagaId],
      );
      expect(rows[0]!.failed_steps.map((s) => s.stepId)).toEqual(['a']);
      await eventually(
        () => f.session.auditTail(30),
        (t) => t.some((e) => e.entry.kind === 'saga_escalated'),
      );
    });
  });
});

describe('cancellation', () => {
  it('cancelling a saga cancels its running step and still compensates what committed', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b']));
      service.on('/b/do', () => 'hang');
      const handle = await f.hv.startSaga(definition(f, [step('a', f.agents[0]!), step('b', f.agents[1]!)]), {
        options: fast,
      });
      await eventually(
        async () => service.callsTo('/b/do'),
        (n) => n === 1,
      );
      expect((await handle.progress()).steps.map((s) => s.state)).toEqual(['committed', 'executing']);
      await handle.cancel();
      const view = await handle.result();
      expect(view).toMatchObject({ status: 'compensated', error: 'saga cancelled' });
      expect(service.paths('undo')).toEqual(['/b/undo', '/a/undo']);
      await eventually(
        async () => service.aborted,
        (a) => a.includes('/b/do'),
      );
    });
  });
});

describe('fan-out', () => {
  const fanOut = (f: Fixture, policy: string, ids: string[], extra: Record<string, Record<string, unknown>> = {}) =>
    definition(
      f,
      ids.map((id, i) => step(id, f.agents[i % f.agents.length]!, extra[id] ?? {})),
      { fan_outs: [{ policy, branch_step_ids: ids }] },
    );

  it('ALL: one failed branch fails the group and the succeeded branches are compensated', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['x', 'y', 'z']));
      service.on('/y/do', () => ({ status: 500 }));
      const view = await (
        await f.hv.startSaga(fanOut(f, 'all_must_succeed', ['x', 'y', 'z']), { options: fast })
      ).result();
      expect(view.status).toBe('compensated');
      expect(service.paths('undo').sort()).toEqual(['/x/undo', '/z/undo']);
    });
  });

  it('MAJORITY: two of three suffice and the saga completes', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['x', 'y', 'z']));
      service.on('/z/do', () => ({ status: 500 }));
      const view = await (
        await f.hv.startSaga(fanOut(f, 'majority_must_succeed', ['x', 'y', 'z']), { options: fast })
      ).result();
      expect(view.status).toBe('completed');
      expect(view.steps.map((s) => s.state)).toEqual(['committed', 'committed', 'failed']);
      expect(service.paths('undo')).toEqual([]);
    });
  });

  it('ANY: the first success decides, the straggler is cancelled and undone', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['x', 'slow']));
      service.on('/slow/do', () => 'hang');
      const view = await (
        await f.hv.startSaga(fanOut(f, 'any_must_succeed', ['x', 'slow']), { options: fast })
      ).result();
      expect(view.status).toBe('completed');
      expect(view.steps.find((s) => s.stepId === 'slow')).toMatchObject({ state: 'compensated' });
      await eventually(
        async () => service.aborted,
        (a) => a.includes('/slow/do'),
      );
      expect(service.paths('undo')).toEqual(['/slow/undo']);
    });
  });
});

describe('step executors', () => {
  it('runs handlers registered on the worker and on an agent’s own task queue', async () => {
    const taskQueue = uniqueTaskQueue('saga-handlers');
    const agentQueue = uniqueTaskQueue('agent');
    const seen: string[] = [];
    const handlers = (who: string) => ({
      'act-h': {
        execute: async (inv: { stepId: string }) => {
          seen.push(`${who}:execute:${inv.stepId}`);
          return { by: who };
        },
        undo: async (inv: { stepId: string }) => void seen.push(`${who}:undo:${inv.stepId}`),
      },
      'act-boom': {
        execute: async () => {
          throw new Error('boom');
        },
      },
    });
    const agentWorker = await Worker.create({
      connection: ctx.nativeConnection,
      taskQueue: agentQueue,
      activities: createStepActivities({ handlers: handlers('agent') }),
    });
    await agentWorker.runUntil(
      withWorker(ctx, { taskQueue, activities: testActivities({ handlers: handlers('hypervisor') }) }, async () => {
        const f = await sagaSession(taskQueue, ['act-h', 'act-boom']);
        const def = definition(f, [
          { id: 'h1', action_id: 'act-h', agent: f.agents[0]! },
          { id: 'h2', action_id: 'act-h', agent: f.agents[1]! },
          { id: 'boom', action_id: 'act-boom', agent: f.agents[0]! },
        ]);
        const view = await (
          await f.hv.startSaga(def, { options: { ...fast, agentTaskQueues: { [f.agents[1]!]: agentQueue } } })
        ).result();
        expect(view.status).toBe('compensated');
        expect(view.steps[0]!.result).toEqual({ by: 'hypervisor' });
        expect(seen).toEqual(['hypervisor:execute:h1', 'agent:execute:h2', 'agent:undo:h2', 'hypervisor:undo:h1']);
      }),
    );
  });
});

describe('checkpoints and resume', () => {
  it('skips achieved goals on resume without repeating their effects', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b', 'c']));
      service.on('/c/do', (n) => (n === 1 ? 'hang' : { status: 200 }));
      const sagaId = `resume-${randomUUID()}`;
      const handle = await f.hv.startSaga(
        definition(f, [
          step('a', f.agents[0]!, { checkpoint_goal: 'VM provisioned' }),
          step('b', f.agents[1]!, { checkpoint_goal: 'app deployed' }),
          step('c', f.agents[0]!),
        ]),
        { sagaId, options: fast },
      );
      await eventually(
        async () => service.callsTo('/c/do'),
        (n) => n === 1,
      );
      // An operator stops the saga outright: no compensation runs, the checkpoints stay valid.
      await handle.workflow.terminate('operator stop');
      const resumed = await f.hv.resumeSaga(sagaId);
      const view = await resumed.result();
      expect(view.status).toBe('completed');
      expect(view.steps.map((s) => s.state)).toEqual(['skipped', 'skipped', 'committed']);
      expect(service.callsTo('/a/do')).toBe(1);
      expect(service.callsTo('/b/do')).toBe(1);
      expect(service.callsTo('/c/do')).toBe(2);
    });
  });

  it('re-runs a step whose checkpoint was invalidated, and compensation invalidates checkpoints', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b']));
      service.on('/b/do', (n) => (n === 1 ? { status: 500 } : { status: 200 }));
      const sagaId = `invalidate-${randomUUID()}`;
      const first = await (
        await f.hv.startSaga(
          definition(f, [step('a', f.agents[0]!, { checkpoint_goal: 'done a' }), step('b', f.agents[1]!)]),
          { sagaId, options: fast },
        )
      ).result();
      expect(first.status).toBe('compensated');
      const { rows } = await testPool().query<{ invalidated_by: string | null }>(
        'SELECT invalidated_by FROM saga_checkpoints WHERE saga_id = $1',
        [sagaId],
      );
      expect(rows).toEqual([{ invalidated_by: 'compensation' }]);
      const second = await (await f.hv.resumeSaga(sagaId)).result();
      expect(second.steps.map((s) => s.state)).toEqual(['committed', 'committed']);
      expect(service.callsTo('/a/do')).toBe(2);
    });
  });
});

describe('kill during a running saga', () => {
  it('hands the step to the substitute under a new epoch; the killed agent’s late write changes nothing', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b']), 3);
      const [doomed, , substitute] = f.agents as [string, string, string];
      service.on('/b/do', (n) => (n === 1 ? 'lateWrite' : { status: 200 }));
      const handle = await f.hv.startSaga(definition(f, [step('a', doomed), step('b', doomed)]), { options: fast });
      await eventually(
        async () => service.callsTo('/b/do'),
        (n) => n === 1,
      );
      const kill = await f.session.kill({
        agentDid: doomed,
        reason: 'behavioral_drift',
        authorizedBy: f.creatorDid,
        substituteDid: substitute,
      });
      expect(kill.steps).toEqual([
        { sagaId: handle.sagaId, stepId: 'b', disposition: 'reassigned', substituteDid: substitute },
      ]);
      const view = await handle.result();
      expect(view.status).toBe('completed');
      expect(view.steps[1]).toMatchObject({ state: 'committed', agentDid: substitute });
      const calls = service.calls
        .filter((c) => c.path === '/b/do')
        .map((c) => [c.invocation.agentDid, c.invocation.epoch]);
      expect(calls).toEqual([
        [doomed, 0],
        [substitute, 1],
      ]);
      // The zombie attempt finally writes: fenced out by the newer epoch.
      service.release();
      expect(service.staleRejected).toEqual([{ path: '/b/do', agentDid: doomed, epoch: 0 }]);
      expect(service.appliedBy.get(`${handle.sagaId}/b/execute`)).toBe(substitute);
      const tail = await f.session.auditTail(40);
      expect(tail.map((e) => e.entry.kind)).toEqual(
        expect.arrayContaining(['kill', 'kill_handoff', 'saga_step_reassigned']),
      );
    });
  });

  it('hands the step to the session’s registered substitute when the kill names none', async () => {
    await withSagaWorker(async (taskQueue) => {
      const backup = did('backup');
      const { session, hv, creatorDid } = await newSession(ctx, taskQueue, {
        breachPolicy: { baselineRate: 10_000 },
        substitutes: [backup],
      });
      const doomed = did('doomed');
      const manifest = actionsOf(['a']).map((actionId) => ({
        actionId,
        name: actionId,
        reversibility: 'full' as const,
      }));
      await session.join({ agentDid: doomed, sigmaRaw: 0.9, actions: manifest });
      await session.join({ agentDid: backup, sigmaRaw: 0.9, actions: manifest });
      await session.activate();
      service.on('/a/do', (n) => (n === 1 ? 'hang' : { status: 200 }));
      const handle = await hv.startSaga(
        { name: 'x', session_id: session.sessionId, steps: [step('a', doomed)] },
        { options: fast },
      );
      await eventually(
        async () => service.callsTo('/a/do'),
        (n) => n === 1,
      );
      const kill = await session.kill({ agentDid: doomed, reason: 'manual', authorizedBy: creatorDid });
      expect(kill.steps).toEqual([
        { sagaId: handle.sagaId, stepId: 'a', disposition: 'reassigned', substituteDid: backup },
      ]);
      expect((await handle.result()).status).toBe('completed');
    });
  });

  it('hands off for every kill, whatever sent it: here the durable kill signal', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a']), 2);
      const [doomed, substitute] = f.agents as [string, string];
      service.on('/a/do', (n) => (n === 1 ? 'hang' : { status: 200 }));
      const handle = await f.hv.startSaga(definition(f, [step('a', doomed)]), { options: fast });
      await eventually(
        async () => service.callsTo('/a/do'),
        (n) => n === 1,
      );
      await f.session.sendKill({
        agentDid: doomed,
        reason: 'manual',
        authorizedBy: f.creatorDid,
        substituteDid: substitute,
      });
      const view = await handle.result();
      expect(view).toMatchObject({ status: 'completed' });
      expect(view.steps[0]).toMatchObject({ state: 'committed', agentDid: substitute });
      await eventually(
        () => f.session.auditTail(20),
        (t) => t.some((e) => e.entry.kind === 'kill_handoff'),
      );
    });
  });

  it('fails the step and compensates when there is no substitute', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b']));
      service.on('/b/do', () => 'hang');
      const handle = await f.hv.startSaga(definition(f, [step('a', f.agents[0]!), step('b', f.agents[0]!)]), {
        options: fast,
      });
      await eventually(
        async () => service.callsTo('/b/do'),
        (n) => n === 1,
      );
      const kill = await f.session.kill({ agentDid: f.agents[0]!, reason: 'manual', authorizedBy: f.creatorDid });
      expect(kill.steps).toEqual([{ sagaId: handle.sagaId, stepId: 'b', disposition: 'failed', substituteDid: null }]);
      const view = await handle.result();
      expect(view.status).toBe('compensated');
      expect(view.steps[1]!.error).toMatch(/killed/);
      expect(service.paths('undo')).toEqual(['/a/undo']);
    });
  });
});

describe('a worker killed mid-saga', () => {
  it('resumes on another worker without applying any effect twice', async () => {
    const taskQueue = uniqueTaskQueue('saga-crash');
    service = await StepService.start();
    try {
      const child = await spawnWorker(taskQueue, { HV_STEP_BASE_URL: service.url });
      // The dying worker's attempt applies b's effect and never hears back.
      service.on('/b/do', (n) => (n === 1 ? 'applyThenHang' : { status: 200 }));
      const f = await sagaSession(taskQueue, actionsOf(['a', 'b', 'c']));
      const handle = await f.hv.startSaga(
        definition(f, [step('a', f.agents[0]!), step('b', f.agents[1]!), step('c', f.agents[0]!)]),
        { options: fast },
      );
      await eventually(
        async () => service.callsTo('/b/do'),
        (n) => n === 1,
      );
      await killWorker(child);
      await withWorker(ctx, { taskQueue, activities: testActivities({ stepBaseUrl: service.url }) }, async () => {
        const view = await handle.result();
        expect(view.status).toBe('completed');
      });
      // b was attempted twice (heartbeat timeout, then retry) but applied once, by its idempotency key.
      expect(service.callsTo('/b/do')).toBe(2);
      expect(service.applied).toEqual([
        `${handle.sagaId}/a/execute`,
        `${handle.sagaId}/b/execute`,
        `${handle.sagaId}/c/execute`,
      ]);
      expect(service.callsTo('/a/do')).toBe(1);
    } finally {
      await service.close();
    }
  });
});

describe('sagas started by a session', () => {
  it('keep running when the session continues as new, and report into its chain', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, [...actionsOf(['a', 'b']), 'edit-doc']);
      service.on('/b/do', () => 'hang');
      const { sagaId } = await f.session.startSaga({
        definition: { name: 'owned', steps: [step('a', f.agents[0]!), step('b', f.agents[1]!)] },
        options: fast,
      });
      await eventually(
        async () => service.callsTo('/b/do'),
        (n) => n === 1,
      );
      const firstRun = (await f.session.view()).runId;
      for (let i = 0; i < 400 && (await f.session.view()).runId === firstRun; i++)
        await f.session.authorize({ agentDid: f.agents[0]!, actionId: 'edit-doc' });
      expect((await f.session.view()).runId).not.toBe(firstRun);
      service.release();
      const view = await f.hv.saga(sagaId).result();
      expect(view.status).toBe('completed');
      await eventually(
        () => f.session.auditTail(10),
        (t) => t.some((e) => e.entry.kind === 'saga_completed'),
      );
    });
  });

  it('refuses a definition for another session and an invalid one, without history', async () => {
    await withSagaWorker(async (taskQueue) => {
      const f = await sagaSession(taskQueue, actionsOf(['a']));
      await expectHvError(
        f.session.startSaga({ definition: { name: 'x', session_id: 'other', steps: [step('a', f.agents[0]!)] } }),
        ErrorType.InvalidInput,
      );
      await expectHvError(
        f.session.startSaga({ definition: { name: 'x', steps: [step('a', f.agents[0]!, { timeout: 0 })] } }),
        ErrorType.SagaDefinitionInvalid,
      );
    });
  });
});

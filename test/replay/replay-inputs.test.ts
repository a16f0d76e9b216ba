import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIdsOf } from '../helpers/fuzz.js';
import { replayDivergence } from '../helpers/replay-probe.js';
import { actions, did, eventually, newSession } from '../helpers/session.js';
import { StepService } from '../helpers/step-service.js';
import { testActivities } from '../helpers/audit.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';
import { fullSessionScenario } from './scenarios.js';

let ctx: TemporalTestContext;
let service: StepService;
beforeAll(async () => {
  ctx = await connectTestTemporal();
  service = await StepService.start();
});
afterAll(async () => {
  await service?.close();
  await ctx?.close();
});

/**
 * docs/DESIGN.md §11.1: a run replayed from scratch (a restarted worker, an evicted cache) must not only give the same
 * commands, which the SDK checks, but the same inputs: the same audit batches (timestamps, hashes) and the same
 * signals. Several sessions at once, each starting with its local activities, a saga that compensates, and identities
 * whose kill switch trips: every run of every workflow they touched replays with identical activity inputs.
 */
describe('replay from scratch gives the same activity inputs and signals', () => {
  it('for sessions, a saga and identities, run concurrently on one worker', async () => {
    const taskQueue = uniqueTaskQueue('replay-inputs');
    const workflowIds: string[] = [];
    service.on('/c/do', () => ({ status: 500 }));
    // The operator directory is read slower than the creator's admission, so a session's two start-up local activities
    // would resolve in the order in which a replay cannot reproduce their times (see stable-tasks.ts).
    const activities = testActivities({ stepBaseUrl: service.url, taskQueue });
    const readDirectory = activities.loadOperatorDirectory;
    activities.loadOperatorDirectory = async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return readDirectory();
    };
    await withWorker(ctx, { taskQueue, activities }, async () => {
      const scenarios = Array.from({ length: 3 }, async () => {
        const creator = did('creator');
        const { session } = await newSession(ctx, taskQueue, { consistencyMode: 'strong' }, creator);
        workflowIds.push(session.workflow.workflowId);
        await fullSessionScenario(session, creator);
      });
      const sagaRun = (async () => {
        const [agent, rogue] = [did('saga-agent'), did('rogue')];
        const { session, hv } = await newSession(ctx, taskQueue, { breachPolicy: { baselineRate: 10_000 } });
        workflowIds.push(session.workflow.workflowId, `agent:${agent}`, `agent:${rogue}`);
        const manifest = ['a', 'b', 'c'].map((id) => ({
          actionId: `act-${id}`,
          name: id,
          reversibility: 'full' as const,
          undoApi: '/undo',
        }));
        await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: manifest });
        await session.join({ agentDid: rogue, sigmaRaw: 0.8, actions: [actions.deploy, actions.edit] });
        await session.activate();
        await hv.agent(rogue).configure({ enabled: true, window_seconds: 60, deny_rate_threshold: 0.9, min_calls: 3 });
        const steps = ['a', 'b', 'c'].map((id) => ({
          id,
          action_id: `act-${id}`,
          agent,
          execute_api: `/${id}/do`,
          undo_api: `/${id}/undo`,
        }));
        const saga = await hv.startSaga(
          { name: 'replayed', session_id: session.sessionId, steps },
          { options: { retryInitialIntervalMs: 50 } },
        );
        workflowIds.push(saga.workflow.workflowId);
        const view = await saga.result();
        expect(view.status, JSON.stringify(view).slice(0, 1500)).toBe('compensated');
        for (let i = 0; i < 3; i++) await session.authorize({ agentDid: rogue, actionId: actions.deploy.actionId });
        await eventually(
          () => hv.agent(rogue).status(),
          (st) => st.blocked !== null,
        );
        await hv.agent(rogue).unblock({ reason: 'replayed', authorizedBy: 'did:mesh:sre' });
        await session.terminate();
      })();
      await Promise.all([...scenarios, sagaRun]);
    });
    const divergent: string[] = [];
    for (const workflowId of workflowIds)
      for (const runId of await runIdsOf(ctx.client, workflowId)) {
        const problem = await replayDivergence(ctx.client, workflowId, runId);
        if (problem) divergent.push(problem);
      }
    expect(workflowIds.length).toBe(7);
    expect(divergent).toEqual([]);
  });
});

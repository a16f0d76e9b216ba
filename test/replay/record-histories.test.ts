import { writeFile } from 'node:fs/promises';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';
import { actions, eventually, newSession } from '../helpers/session.js';
import { auditRetentionWorkflow } from '../../workflows/audit-retention.js';
import { testActivities } from '../helpers/audit.js';
import { StepService } from '../helpers/step-service.js';
import { fullSessionScenario } from './scenarios.js';

/**
 * Not a test: the recorder for the replay fixtures. Run it after an intentional workflow change (together with a
 * patch, see DESIGN) with `HV_RECORD_HISTORIES=1 npx vitest run test/replay/record-histories.test.ts`.
 */
const recording = process.env.HV_RECORD_HISTORIES === '1';
const fixture = (name: string) => fileURLToPath(new URL(`./histories/${name}.json`, import.meta.url));

/**
 * Writes a fixture and, next to it, the workflow id it ran under: a history does not hold it, and a replay must run
 * under it (operator commands are signed for their workflow id).
 */
async function record(name: string, handle: WorkflowHandle): Promise<void> {
  await writeFile(fixture(name), historyToJSON(await handle.fetchHistory()));
  await writeFile(fixture(name).replace(/\.json$/, '.workflow-id'), `${handle.workflowId}\n`);
}

let ctx: TemporalTestContext;
beforeAll(async () => {
  if (recording) ctx = await connectTestTemporal();
});
afterAll(async () => {
  if (recording) await ctx.close();
});

describe.skipIf(!recording)('record replay fixtures', () => {
  it('records the full session scenario', async () => {
    const taskQueue = uniqueTaskQueue('record');
    await withWorker(ctx, { taskQueue }, async () => {
      const creator = 'did:mesh:operator';
      const { session } = await newSession(ctx, taskQueue, { consistencyMode: 'strong' }, creator);
      await fullSessionScenario(session, creator);
      await record('session-full', session.workflow);
    });
  });

  it('records a session that times out', async () => {
    const taskQueue = uniqueTaskQueue('record');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { maxDurationSeconds: 1 }, 'did:mesh:operator');
      await session.join({ agentDid: 'did:mesh:solo', sigmaRaw: 0.7 });
      await session.result();
      await record('session-timeout', session.workflow);
    });
  });

  it('records a session run that ends in continue-as-new', async () => {
    const taskQueue = uniqueTaskQueue('record');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(
        ctx,
        taskQueue,
        { breachPolicy: { baselineRate: 10_000 } },
        'did:mesh:operator',
      );
      await session.join({ agentDid: 'did:mesh:busy', sigmaRaw: 0.8, actions: [actions.edit] });
      await session.activate();
      const first = (await session.view()).runId;
      for (let i = 0; i < 400 && (await session.view()).runId === first; i++) {
        await session.authorize({ agentDid: 'did:mesh:busy', actionId: actions.edit.actionId });
      }
      const firstRun = ctx.client.workflow.getHandle(session.workflow.workflowId, first);
      await record('session-continued', firstRun);
      await session.terminate();
    });
  });

  it('records an audit retention pass', async () => {
    const taskQueue = uniqueTaskQueue('record');
    await withWorker(ctx, { taskQueue }, async () => {
      const handle = await ctx.client.workflow.start(auditRetentionWorkflow, {
        taskQueue,
        workflowId: `audit-retention-${taskQueue}`,
        args: [{ retentionDays: 180 }],
      });
      await handle.result();
      await record('audit-retention', handle);
    });
  });

  it('records a saga that fans out, fails a step and compensates', async () => {
    const taskQueue = uniqueTaskQueue('record');
    const service = await StepService.start();
    service.on('/c/do', () => ({ status: 500 }));
    try {
      await withWorker(ctx, { taskQueue, activities: testActivities({ stepBaseUrl: service.url }) }, async () => {
        const { session, hv } = await newSession(ctx, taskQueue, {}, 'did:mesh:operator');
        const manifest = ['a', 'b', 'c'].map((id) => ({ actionId: `act-${id}`, name: id }));
        await session.join({ agentDid: 'did:mesh:one', sigmaRaw: 0.9, actions: manifest });
        await session.activate();
        const steps = ['a', 'b', 'c'].map((id) => ({
          id,
          action_id: `act-${id}`,
          agent: 'did:mesh:one',
          execute_api: `/${id}/do`,
          undo_api: `/${id}/undo`,
        }));
        const saga = await hv.startSaga(
          {
            name: 'recorded',
            session_id: session.sessionId,
            steps,
            fan_outs: [{ policy: 'all_must_succeed', branch_step_ids: ['a', 'b'] }],
          },
          { options: { retryInitialIntervalMs: 50 } },
        );
        await saga.result();
        await record('saga-compensated', saga.workflow);
        await session.terminate();
      });
    } finally {
      await service.close();
    }
  });

  it('records an agent identity whose kill switch trips and is lifted', async () => {
    const taskQueue = uniqueTaskQueue('record');
    await withWorker(ctx, { taskQueue }, async () => {
      const agent = `did:mesh:rogue-${taskQueue.slice(-8)}`;
      const { session, hv } = await newSession(
        ctx,
        taskQueue,
        { breachPolicy: { baselineRate: 10_000 } },
        'did:mesh:operator',
      );
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: [actions.deploy, actions.edit] });
      await session.activate();
      await hv.agent(agent).configure({ enabled: true, window_seconds: 60, deny_rate_threshold: 0.9, min_calls: 3 });
      for (let i = 0; i < 3; i++) await session.authorize({ agentDid: agent, actionId: actions.deploy.actionId });
      // The trip is asynchronous: wait for it, then lift it.
      await eventually(
        () => hv.agent(agent).status(),
        (st) => st.blocked !== null,
      );
      await hv.agent(agent).unblock({ reason: 'recorded', authorizedBy: 'did:mesh:sre' });
      await session.terminate();
      await record('agent-kill-switch', hv.agent(agent).workflow);
    });
  });
});

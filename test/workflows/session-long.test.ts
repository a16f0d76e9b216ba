import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HypervisorError } from '../../client/errors.js';
import { agentWorkflowId } from '../../workflows/messages.js';
import { verifyOptions } from '../helpers/audit.js';
import { actions, allActions, did, newSession } from '../helpers/session.js';
import {
  connectTestTemporal,
  runsOf,
  uniqueTaskQueue,
  withWorker,
  type TemporalTestContext,
} from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

/** Calls in the long-session test; `HV_LONG_SESSION_CALLS` scales it (the figure is the default). */
const CALLS = Number(process.env.HV_LONG_SESSION_CALLS ?? 20_000);
const CALLERS = 16;

describe('a long, busy session', () => {
  it(`takes ${CALLS} authorizes from ${CALLERS} callers across many continue-as-new runs without a failure`, async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      // The test server suggests continue-as-new at 400 history events (test/setup/global-setup.ts): many hand-overs.
      const { session } = await newSession(ctx, taskQueue, {
        breachPolicy: { baselineRate: 1_000_000 },
        rateLimits: { '2': { ratePerSecond: 100_000, burst: 100_000 } },
        maxDurationSeconds: 3_600,
      });
      const agents = Array.from({ length: 4 }, (_, i) => did(`long-${i}`));
      for (const agentDid of agents) await session.join({ agentDid, sigmaRaw: 0.8, actions: allActions });
      await session.activate();

      const errors = new Map<string, number>();
      let allowed = 0;
      let next = 0;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: CALLERS }, async (_, c) => {
          for (let i = next++; i < CALLS; i = next++) {
            const agentDid = agents[(c + i) % agents.length]!;
            try {
              if ((await session.authorize({ agentDid, actionId: actions.edit.actionId })).allowed) allowed++;
            } catch (err) {
              const key = err instanceof HypervisorError ? err.type : (err as Error).message.slice(0, 120);
              errors.set(key, (errors.get(key) ?? 0) + 1);
            }
            if (i % 2_000 === 1_999)
              console.log(`[long session] ${i + 1}/${CALLS} calls, ${Math.round((Date.now() - started) / 1000)} s`);
          }
        }),
      );
      expect(Object.fromEntries(errors)).toEqual({});
      expect(allowed).toBe(CALLS);

      const commitment = await session.terminate();
      expect(commitment.audit?.fault ?? null).toBeNull();
      const report = await session.verifyAudit(verifyOptions());
      expect(report.ok).toBe(true);
      expect(commitment.entryCount).toBeGreaterThanOrEqual(CALLS);

      const sessionRuns = await runsOf(ctx.client, session.workflow.workflowId);
      console.log(`[long session] ${sessionRuns.length} runs, ${Math.round((Date.now() - started) / 1000)} s`);
      expect(sessionRuns.length).toBeGreaterThanOrEqual(5);
      const identityRuns = (await Promise.all(agents.map((a) => runsOf(ctx.client, agentWorkflowId(a))))).flat();
      const failures = [...sessionRuns, ...identityRuns].filter((r) => r.taskFailures > 0);
      expect(failures).toEqual([]);
    });
  }, 1_800_000);
});

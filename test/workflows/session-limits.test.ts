import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PARTICIPANTS_LIMIT } from '../../domain/session-config.js';
import { ErrorType } from '../../domain/errors.js';
import { testCheckpointDir, testPool, trustedTestKeys } from '../helpers/audit.js';
import { actions, did, expectHvError, newSession } from '../helpers/session.js';
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

const verifyOptions = () => ({
  pool: testPool(),
  trustedKeys: trustedTestKeys(),
  checkpointDir: testCheckpointDir,
  requireSignatures: true,
});

/** Runs `fn` over `items` with `concurrency` workers, in order of pick-up. */
async function eachConcurrently<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i]!);
    }),
  );
}

describe('sessions at their documented limits', () => {
  it(`takes ${MAX_PARTICIPANTS_LIMIT} participants (join, authorize, terminate, verify) and refuses one more`, async () => {
    const taskQueue = uniqueTaskQueue('limits');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, {
        maxParticipants: MAX_PARTICIPANTS_LIMIT,
        breachPolicy: { baselineRate: 1_000_000 },
      });
      const agents = Array.from({ length: MAX_PARTICIPANTS_LIMIT }, (_, i) => did(`p${i}`));
      const started = Date.now();
      let joined = 0;
      await eachConcurrently(agents, 16, async (agentDid) => {
        await session.join({ agentDid, sigmaRaw: 0.8, actions: [actions.edit] });
        if (++joined % 200 === 0)
          console.log(`[limits] ${joined}/${agents.length} joined, ${Math.round((Date.now() - started) / 1000)} s`);
      });
      await expectHvError(session.join({ agentDid: did('one-too-many'), sigmaRaw: 0.8 }), ErrorType.SessionFull);
      await session.activate();
      const view = await session.view();
      expect(view.participants).toHaveLength(MAX_PARTICIPANTS_LIMIT);

      let allowed = 0;
      await eachConcurrently(agents, 16, async (agentDid) => {
        if ((await session.authorize({ agentDid, actionId: actions.edit.actionId })).allowed) allowed++;
      });
      expect(allowed).toBe(MAX_PARTICIPANTS_LIMIT);

      const commitment = await session.terminate();
      expect(commitment.participants).toHaveLength(MAX_PARTICIPANTS_LIMIT);
      expect(commitment.audit).toMatchObject({ persistedSeq: commitment.entryCount, fault: null });
      expect((await session.verifyAudit(verifyOptions())).ok).toBe(true);
      const runs = await runsOf(ctx.client, session.workflow.workflowId);
      expect(runs.filter((r) => r.taskFailures > 0)).toEqual([]);
      console.log(
        `[limits] ${MAX_PARTICIPANTS_LIMIT} participants, ${runs.length} runs: ${Math.round((Date.now() - started) / 1000)} s`,
      );
    });
  }, 900_000);
});

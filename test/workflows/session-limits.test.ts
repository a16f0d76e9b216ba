import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ACTIONS_PER_MANIFEST, MAX_API_PATH_LENGTH, type ActionDescriptorInput } from '../../domain/actions.js';
import { MAX_IDENTIFIER_LENGTH } from '../../domain/identifiers.js';
import { MAX_SESSION_ACTIONS } from '../../domain/session/index.js';
import { MAX_PARTICIPANTS_LIMIT } from '../../domain/session-config.js';
import { ErrorType } from '../../domain/errors.js';
import { verifyOptions } from '../helpers/audit.js';
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
      // At most 8 joins at once: each holds one of the server's 10 in-flight update slots on the workflow while its
      // admission activity runs, and a loaded machine must not push the 11th into RESOURCE_EXHAUSTED.
      await eachConcurrently(agents, 8, async (agentDid) => {
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

  it(`takes ${MAX_SESSION_ACTIONS} registered actions at maximum field sizes, continues as new with them, refuses one more`, async () => {
    const taskQueue = uniqueTaskQueue('limits');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, {
        maxParticipants: 20,
        breachPolicy: { baselineRate: 1_000_000 },
      });
      const perAgent = MAX_ACTIONS_PER_MANIFEST;
      const agents = Array.from({ length: MAX_SESSION_ACTIONS / perAgent }, (_, i) => did(`m${i}`));
      // Every field at its maximum: a 256-character id and name, 2,048-character APIs (≈ 4.7 KB per action).
      const manifest = (a: number): ActionDescriptorInput[] =>
        Array.from({ length: perAgent }, (_, i) => {
          const id = `a${a}-${i}-`;
          return {
            actionId: id + 'x'.repeat(MAX_IDENTIFIER_LENGTH - id.length),
            name: 'n'.repeat(256),
            executeApi: '/'.padEnd(MAX_API_PATH_LENGTH, 'e'),
            undoApi: '/'.padEnd(MAX_API_PATH_LENGTH, 'u'),
            reversibility: 'full',
          };
        });
      const manifests = agents.map((_, a) => manifest(a));
      for (const [a, agentDid] of agents.entries())
        await session.join({ agentDid, sigmaRaw: 0.8, actions: manifests[a]! });
      const refused = await expectHvError(
        session.join({ agentDid: did('one-more'), sigmaRaw: 0.8, actions: [actions.read] }),
        ErrorType.LimitExceeded,
      );
      expect(refused.message).toMatch(/2000/);
      await session.activate();

      // Hand the state over to a new run and keep working with it.
      const firstRun = (await session.view()).runId;
      for (let i = 0; (await session.view()).runId === firstRun; i++) {
        expect(i).toBeLessThan(400);
        const a = i % agents.length;
        const decision = await session.authorize({
          agentDid: agents[a]!,
          actionId: manifests[a]![i % perAgent]!.actionId,
        });
        expect(decision.allowed).toBe(true);
      }
      const view = await session.view();
      expect(view.participants.reduce((n, p) => n + p.actions.length, 0)).toBe(MAX_SESSION_ACTIONS);
      const last = manifests.at(-1)!.at(-1)!;
      expect((await session.authorize({ agentDid: agents.at(-1)!, actionId: last.actionId })).allowed).toBe(true);

      const commitment = await session.terminate();
      expect(commitment.audit).toMatchObject({ persistedSeq: commitment.entryCount, fault: null });
      expect((await session.verifyAudit(verifyOptions())).ok).toBe(true);
      // A page of ten joins at ~1 MB each would pass the client's 4 MB message limit: read it three events at a time.
      const runs = await runsOf(ctx.client, session.workflow.workflowId, 3);
      expect(runs.length).toBeGreaterThanOrEqual(2);
      expect(runs.filter((r) => r.taskFailures > 0)).toEqual([]);
    });
  }, 600_000);
});

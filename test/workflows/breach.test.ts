import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../domain/session-types.js';
import { actions, allActions, did, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

/** Upper bound on the attempts of the loop: it stops at the kill long before this. */
const MAX_ATTEMPTS = 3_000;
const CALLERS = 8;

describe('breach detection at the rate the real server serves authorize (default breach policy)', () => {
  it('a tight loop of upward attempts is demoted at HIGH and then killed at CRITICAL', async () => {
    const taskQueue = uniqueTaskQueue('breach');
    const agent = did('climber');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await session.activate();

      const decisions: Decision[] = [];
      let stopped = false;
      const started = performance.now();
      // Ring 2 asking for ring 0 (weight 3, then 4 once demoted to ring 3), from several callers as an agent's tool
      // loop would; each caller stops once the agent is out.
      await Promise.all(
        Array.from({ length: CALLERS }, async () => {
          while (!stopped && decisions.length < MAX_ATTEMPTS) {
            const d = await session.authorize({ agentDid: agent, actionId: actions.admin.actionId });
            decisions.push(d);
            if (d.reason === 'ring_breach' || d.reason === 'agent_killed') stopped = true;
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const severities = decisions.map((d) => d.breach?.severity ?? 'none');
      const firstHigh = severities.indexOf('high');
      const firstCritical = severities.indexOf('critical');
      expect(
        firstHigh,
        `no HIGH in ${decisions.length} attempts (${(decisions.length / seconds).toFixed(0)}/s)`,
      ).toBeGreaterThan(0);
      expect(firstCritical, `no CRITICAL in ${decisions.length} attempts`).toBeGreaterThan(firstHigh);
      expect(decisions.some((d) => d.reason === 'ring_breach')).toBe(true);

      const view = await session.view();
      const climber = view.participants.find((p) => p.agentDid === agent)!;
      expect(climber.status).toBe('killed');
      expect(climber.kill?.reason).toBe('ring_breach');
      // HIGH demoted to ring 3 before CRITICAL killed: the chain shows the demotion ahead of the kill.
      const tail = await session.auditTail(100);
      const kinds = tail.map((e) => e.entry.kind);
      const demotion = tail.findIndex(
        (e) => e.entry.kind === 'ring_changed' && (e.payload as { to?: number }).to === 3,
      );
      expect(demotion).toBeGreaterThanOrEqual(0);
      expect(kinds.lastIndexOf('kill')).toBeGreaterThan(demotion);
    });
  });

  it('two quick upward attempts never fire', async () => {
    const taskQueue = uniqueTaskQueue('breach-quiet');
    const agent = did('curious');
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      await session.join({ agentDid: agent, sigmaRaw: 0.8, actions: allActions });
      await session.activate();
      const both = await Promise.all([
        session.authorize({ agentDid: agent, actionId: actions.admin.actionId }),
        session.authorize({ agentDid: agent, actionId: actions.admin.actionId }),
      ]);
      expect(both.map((d) => [d.reason, d.breach])).toEqual([
        ['ring_violation', null],
        ['ring_violation', null],
      ]);
      const view = await session.view();
      expect(view.participants.find((p) => p.agentDid === agent)).toMatchObject({ status: 'active', ring: 2 });
    });
  });
});

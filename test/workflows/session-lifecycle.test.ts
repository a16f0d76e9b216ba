import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../../domain/errors.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';
import {
  allActions,
  auditSettled,
  did,
  eventually,
  expectHvError,
  historyLength,
  newSession,
} from '../helpers/session.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

describe('session lifecycle', () => {
  it('goes handshaking → active → archived and completes with a commitment over its audit chain', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      expect((await session.view()).state).toBe('handshaking');
      await expectHvError(session.activate(), ErrorType.IllegalTransition);

      const alice = did('alice');
      expect(await session.join({ agentDid: alice, sigmaRaw: 0.85, actions: allActions })).toMatchObject({
        ring: 2,
        effScore: 0.85,
      });
      expect(await session.activate()).toEqual({ state: 'active' });
      await expectHvError(session.activate(), ErrorType.IllegalTransition);

      const commitment = await session.terminate({ reason: 'work done' });
      expect(commitment).toMatchObject({
        sessionId: session.sessionId,
        state: 'archived',
        reason: 'work done',
        participants: [alice],
      });
      expect(commitment.root).toMatch(/^[0-9a-f]{64}$/);
      expect(commitment.entryCount).toBeGreaterThanOrEqual(5); // created, join, activated, terminating, archived
      expect(await session.result()).toEqual(commitment);
      await expectHvError(session.join({ agentDid: did('late') }), ErrorType.SessionNotFound);
    });
  });

  it('lists every agent that ever joined in the commitment, not only the active ones', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const [a, b] = [did('a'), did('b')];
      await session.join({ agentDid: a, sigmaRaw: 0.7 });
      await session.join({ agentDid: b, sigmaRaw: 0.7 });
      await session.leave({ agentDid: b });
      const commitment = await session.terminate();
      expect(commitment.participants).toEqual([a, b].sort());
    });
  });

  it('terminates itself with reason session_timeout when maxDurationSeconds passes', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { maxDurationSeconds: 3 });
      const agent = did('slow');
      await session.join({ agentDid: agent, sigmaRaw: 0.7 });
      await session.acquireLock({ agentDid: agent, path: '/report', intent: 'write' });
      const commitment = await session.result();
      expect(commitment).toMatchObject({ reason: 'session_timeout', state: 'archived' });
      const history = await session.workflow.fetchHistory();
      expect(history.events?.some((e) => e.timerFiredEventAttributes)).toBe(true);
    });
  });

  it('rejects an invalid config before starting, with every problem listed', async () => {
    const taskQueue = uniqueTaskQueue();
    const err = await expectHvError(
      newSession(ctx, taskQueue, { maxParticipants: 0, minEffScore: 1.5, maxDurationSeconds: 604_801 }),
      ErrorType.InvalidInput,
    );
    expect(err.message).toMatch(/maxParticipants must be at least 1/);
    expect(err.message).toMatch(/minEffScore must be between 0.0 and 1.0/);
    expect(err.message).toMatch(/must not exceed 604800/);
    await expectHvError(newSession(ctx, taskQueue, { maxParticipants: true as never }), ErrorType.InvalidInput);
    await expectHvError(newSession(ctx, taskQueue, { unknownKey: 1 } as never), ErrorType.InvalidInput);
  });
});

describe('joining', () => {
  it('assigns rings by eff-score with strict thresholds; ring 1 needs consensus', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, creatorDid } = await newSession(ctx, taskQueue, { minEffScore: 0 });
      expect((await session.join({ agentDid: did('s85'), sigmaRaw: 0.85 })).ring).toBe(2);
      expect((await session.join({ agentDid: did('s60'), sigmaRaw: 0.6 })).ring).toBe(3);
      expect((await session.join({ agentDid: did('s601'), sigmaRaw: 0.601 })).ring).toBe(2);
      expect((await session.join({ agentDid: did('s96'), sigmaRaw: 0.96 })).ring).toBe(2);

      // No ring ≤ 1 participant yet: an operator (the creator) approves the first ring-1 join.
      const lead = did('lead');
      await expectHvError(
        session.approveJoin({ candidateDid: lead, approverDid: did('rando') }),
        ErrorType.PermissionDenied,
      );
      await session.approveJoin({ candidateDid: lead, approverDid: creatorDid });
      expect((await session.join({ agentDid: lead, sigmaRaw: 0.97 })).ring).toBe(1);

      // Now the ring-1 electorate decides; the creator alone no longer can.
      const second = did('second');
      await expectHvError(
        session.approveJoin({ candidateDid: second, approverDid: creatorDid }),
        ErrorType.PermissionDenied,
      );
      await session.approveJoin({ candidateDid: second, approverDid: lead });
      expect((await session.join({ agentDid: second, sigmaRaw: 0.99 })).ring).toBe(1);
      // Two ring-1 participants: one approval of two is not a majority.
      const third = did('third');
      await session.approveJoin({ candidateDid: third, approverDid: lead });
      expect((await session.join({ agentDid: third, sigmaRaw: 0.99 })).ring).toBe(2);
    });
  });

  it('sandboxes agents below minEffScore, or rejects them when sandbox joins are disallowed', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { minEffScore: 0.9 });
      expect(await session.join({ agentDid: did('low'), sigmaRaw: 0.8 })).toMatchObject({ ring: 3, sandboxed: true });
      const strict = (await newSession(ctx, taskQueue, { minEffScore: 0.9, allowSandboxJoins: false })).session;
      const err = await expectHvError(strict.join({ agentDid: did('low'), sigmaRaw: 0.8 }), ErrorType.TrustTooLow);
      expect(err.message).toMatch(/eff-score 0.80 is below the session minimum 0.90/);
    });
  });

  it('enforces capacity, DID syntax, duplicates, parent ring + 1, rejoin after leave and no rejoin after kill', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, creatorDid } = await newSession(ctx, taskQueue, { maxParticipants: 3 });
      await expectHvError(session.join({ agentDid: '../../etc/passwd' }), ErrorType.InvalidInput);
      await expectHvError(session.join({ agentDid: 'a:' }), ErrorType.InvalidInput);
      const parent = did('parent');
      await session.approveJoin({ candidateDid: parent, approverDid: creatorDid });
      expect((await session.join({ agentDid: parent, sigmaRaw: 0.99 })).ring).toBe(1);
      await expectHvError(session.join({ agentDid: parent, sigmaRaw: 0.99 }), ErrorType.AlreadyParticipant);
      const child = did('child');
      expect((await session.join({ agentDid: child, sigmaRaw: 0.99, parentDid: parent })).ring).toBe(2);
      const grandchild = did('grandchild');
      expect((await session.join({ agentDid: grandchild, sigmaRaw: 0.99, parentDid: child })).ring).toBe(3);
      await expectHvError(session.join({ agentDid: did('fourth'), sigmaRaw: 0.7 }), ErrorType.SessionFull);

      await session.leave({ agentDid: grandchild });
      expect((await session.join({ agentDid: grandchild, sigmaRaw: 0.7 })).ring).toBe(2);
      await session.kill({ agentDid: grandchild, reason: 'manual', authorizedBy: creatorDid });
      const err = await expectHvError(session.join({ agentDid: grandchild, sigmaRaw: 0.7 }), ErrorType.AgentKilled);
      expect(err.message).toMatch(/may not rejoin/);
    });
  });

  it('leaves no trace in history when a join is rejected', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { maxParticipants: 1 });
      await session.join({ agentDid: did('only'), sigmaRaw: 0.7 });
      await auditSettled(session);
      const before = await historyLength(session);
      await expectHvError(session.join({ agentDid: did('extra'), sigmaRaw: 0.7 }), ErrorType.SessionFull);
      await expectHvError(session.join({ agentDid: 'bad did', sigmaRaw: 0.7 }), ErrorType.InvalidInput);
      await expectHvError(session.join({ agentDid: did('x'), sigmaRaw: 7 }), ErrorType.InvalidInput);
      expect(await historyLength(session)).toBe(before);
      const view = await eventually(
        () => session.view(),
        (v) => v.participants.length === 1,
      );
      expect(view.participants).toHaveLength(1);
    });
  });
});

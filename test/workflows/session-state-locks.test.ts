import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../../domain/errors.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';
import { did, eventually, expectHvError, newSession } from '../helpers/session.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

describe('shared state (VFS)', () => {
  it('normalises paths, versions writes, and rejects a stale write in strong mode', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { consistencyMode: 'strong' });
      const [a, b] = [did('a'), did('b')];
      await session.join({ agentDid: a, sigmaRaw: 0.8 });
      await session.join({ agentDid: b, sigmaRaw: 0.8 });
      const first = await session.write({ agentDid: a, path: 'plans//q3/./draft.md', content: 'v1' });
      expect(first).toMatchObject({ path: '/plans/q3/draft.md', version: 1, conflict: false });
      await expectHvError(
        session.write({ agentDid: a, path: '/plans/../secrets', content: 'x' }),
        ErrorType.InvalidInput,
      );

      // b never read the file: a blind overwrite is stale.
      const stale = await expectHvError(
        session.write({ agentDid: b, path: '/plans/q3/draft.md', content: 'b wins?' }),
        ErrorType.StaleWrite,
      );
      expect(stale.details).toMatchObject({ expectedVersion: 0, actualVersion: 1 });
      const read = await session.read({ agentDid: b, path: '/plans/q3/draft.md' });
      expect(read).toMatchObject({ content: 'v1', version: 1, updatedBy: a });
      expect((await session.write({ agentDid: b, path: '/plans/q3/draft.md', content: 'v2' })).version).toBe(2);
      // a's view is now stale.
      await expectHvError(
        session.write({ agentDid: a, path: '/plans/q3/draft.md', content: 'v3' }),
        ErrorType.StaleWrite,
      );
      expect((await session.list({ agentDid: a })).map((f) => f.path)).toEqual(['/plans/q3/draft.md']);
    });
  });

  it('records a conflict in eventual mode instead of rejecting', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue, { consistencyMode: 'eventual' });
      const [a, b] = [did('a'), did('b')];
      await session.join({ agentDid: a, sigmaRaw: 0.8 });
      await session.join({ agentDid: b, sigmaRaw: 0.8 });
      await session.write({ agentDid: a, path: '/notes', content: 'a' });
      const raced = await session.write({ agentDid: b, path: '/notes', content: 'b' });
      expect(raced).toMatchObject({ version: 2, conflict: true });
      expect((await session.view()).vfs.conflicts).toBe(1);
      expect((await session.auditTail(3)).map((e) => e.entry.kind)).toContain('vfs_conflict');
    });
  });

  it('enforces permissions (creator or ring ≤ 2 may set them), the read-only sandbox, snapshots and restore', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const [owner, other, sandboxed] = [did('owner'), did('other'), did('sandbox')];
      await session.join({ agentDid: owner, sigmaRaw: 0.8 });
      await session.join({ agentDid: other, sigmaRaw: 0.8 });
      await session.join({ agentDid: sandboxed, sigmaRaw: 0.2 });
      await session.write({ agentDid: owner, path: '/secret', content: 's3cr3t' });
      await session.setPermissions({ agentDid: owner, path: '/secret', agents: [owner] });
      await expectHvError(session.read({ agentDid: other, path: '/secret' }), ErrorType.PermissionDenied);
      expect((await session.list({ agentDid: other })).map((f) => f.path)).toEqual([]);
      // Access is checked before existence: no oracle for protected paths.
      await session.setPermissions({ agentDid: owner, path: '/reserved', agents: [owner] });
      await expectHvError(session.delete({ agentDid: other, path: '/reserved' }), ErrorType.PermissionDenied);

      await expectHvError(session.write({ agentDid: sandboxed, path: '/x', content: 'nope' }), ErrorType.RingViolation);
      await expectHvError(
        session.setPermissions({ agentDid: sandboxed, path: '/secret', agents: null }),
        ErrorType.PermissionDenied,
      );
      await session.write({ agentDid: other, path: '/shared', content: 'one' });
      expect((await session.read({ agentDid: sandboxed, path: '/shared' })).content).toBe('one');

      const { snapshotId } = await session.snapshot({ agentDid: owner });
      await session.read({ agentDid: owner, path: '/shared' });
      await session.write({ agentDid: owner, path: '/shared', content: 'two' });
      await session.restore({ agentDid: owner, snapshotId });
      const restored = await session.read({ agentDid: owner, path: '/shared' });
      expect(restored.content).toBe('one');
      expect(restored.version).toBeGreaterThan(2); // versions never go backwards
      await expectHvError(session.restore({ agentDid: owner, snapshotId: 'missing' }), ErrorType.NotFound);
    });
  });
});

describe('intent locks', () => {
  it('grants or queues without blocking, grants the queue on release, and refuses the request that closes a cycle', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session } = await newSession(ctx, taskQueue);
      const [a, b] = [did('a'), did('b')];
      await session.join({ agentDid: a, sigmaRaw: 0.8 });
      await session.join({ agentDid: b, sigmaRaw: 0.8 });
      const aX = await session.acquireLock({ agentDid: a, path: '/x', intent: 'exclusive' });
      expect(aX.status).toBe('granted');
      const bX = await session.acquireLock({ agentDid: b, path: '/x', intent: 'read' });
      expect(bX.status).toBe('queued');
      expect((await session.acquireLock({ agentDid: b, path: '/y', intent: 'write' })).status).toBe('granted');
      // a waiting for /y would close the cycle a → b → a.
      const deadlock = await expectHvError(
        session.acquireLock({ agentDid: a, path: '/y', intent: 'write' }),
        ErrorType.Deadlock,
      );
      expect([...(deadlock.details.cycle as string[])].sort()).toEqual([a, b].sort());

      await session.releaseLock({ agentDid: a, lockId: aX.lockId });
      expect((await session.locks({ path: '/x' }))[0]).toMatchObject({ lockId: bX.lockId, status: 'granted' });
      await expectHvError(session.releaseLock({ agentDid: a, lockId: bX.lockId }), ErrorType.PermissionDenied);
    });
  });

  it('expires locks on their TTL and releases them on leave, kill and terminate', async () => {
    const taskQueue = uniqueTaskQueue();
    await withWorker(ctx, { taskQueue }, async () => {
      const { session, creatorDid } = await newSession(ctx, taskQueue);
      const [a, b, c] = [did('a'), did('b'), did('c')];
      for (const agent of [a, b, c]) await session.join({ agentDid: agent, sigmaRaw: 0.8 });
      await session.acquireLock({ agentDid: a, path: '/ttl', intent: 'exclusive', ttlSeconds: 1 });
      const waiting = await session.acquireLock({ agentDid: b, path: '/ttl', intent: 'exclusive', ttlSeconds: 30 });
      expect(waiting.status).toBe('queued');
      // The session's own timer expires a's lock and hands /ttl to b.
      await eventually(
        () => session.locks({ path: '/ttl' }),
        (locks) => locks.length === 1 && locks[0]!.status === 'granted',
      );
      expect((await session.locks({ path: '/ttl' }))[0]!.agentDid).toBe(b);

      await session.acquireLock({ agentDid: c, path: '/c', intent: 'write' });
      await session.leave({ agentDid: b });
      expect(await session.locks({ agentDid: b })).toEqual([]);
      await session.kill({ agentDid: c, reason: 'manual', authorizedBy: creatorDid });
      expect(await session.locks({ agentDid: c })).toEqual([]);
      await session.acquireLock({ agentDid: a, path: '/final', intent: 'read' });
      await session.terminate();
      const released = (await session.auditTail(10)).filter((e) => e.entry.kind === 'lock_released');
      expect(released.map((e) => e.payload)).toContainEqual(
        expect.objectContaining({ path: '/final', why: 'terminate' }),
      );
    });
  });
});

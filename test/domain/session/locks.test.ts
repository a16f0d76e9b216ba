import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import { acquireLock, beginTermination, releaseSessionLock, sessionLocks } from '../../../domain/session/index.js';
import {
  AcquireLockInput,
  ReleaseLockInput,
  type AcquireLockInput as AcquireRaw,
  type SessionData,
} from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import { NOW, ctx, did, joined, killed, locked, newSession, parse } from '../../helpers/session-data.js';

const [A, B, C] = [did('a'), did('b'), did('c')];
const session = () => joined(joined(joined(newSession(), A, 0.8), B, 0.8), C, 0.8);
const acquire = (data: SessionData, input: AcquireRaw, nowMs = NOW) =>
  acquireLock(deepFreeze(data), parse(AcquireLockInput, input), ctx(nowMs));
const release = (data: SessionData, agentDid: string, lockId: string, nowMs = NOW) =>
  releaseSessionLock(deepFreeze(data), parse(ReleaseLockInput, { agentDid, lockId }), ctx(nowMs));

describe('acquireLock', () => {
  it('grants a free path at once, normalising it, with the default TTL', () => {
    const out = acquire(session(), { agentDid: A, path: 'x//y/', intent: 'exclusive', sagaStepId: 'saga-1/b' });
    expect(out.result).toEqual({
      lockId: 'lock:id-1',
      agentDid: A,
      path: '/x/y',
      intent: 'exclusive',
      status: 'granted',
      requestedAtMs: NOW,
      grantedAtMs: NOW,
      expiresAtMs: NOW + 60_000,
      ttlMs: 60_000,
      sagaStepId: 'saga-1/b',
    });
    expect(out.events).toEqual([
      {
        kind: 'lock_granted',
        agentDid: A,
        payload: {
          lockId: 'lock:id-1',
          path: '/x/y',
          intent: 'exclusive',
          status: 'granted',
          expiresAtMs: NOW + 60_000,
        },
      },
    ]);
    expect(out.data.locks.order).toEqual(['lock:id-1']);
  });

  it('queues a conflicting request without waiting; readers share', () => {
    const data = locked(session(), { agentDid: A, path: '/x', intent: 'read' });
    expect(acquire(data, { agentDid: B, path: '/x', intent: 'read' }).result.status).toBe('granted');
    const queued = acquire(data, { agentDid: B, path: '/x', intent: 'exclusive', ttlSeconds: 30 });
    expect(queued.result).toMatchObject({
      status: 'queued',
      grantedAtMs: null,
      expiresAtMs: NOW + 30_000,
      ttlMs: 30_000,
    });
    expect(queued.events).toEqual([
      {
        kind: 'lock_queued',
        agentDid: B,
        payload: { lockId: 'lock:id-1', path: '/x', intent: 'exclusive', status: 'queued', expiresAtMs: NOW + 30_000 },
      },
    ]);
  });

  it('refuses the request that would close a wait-for cycle', () => {
    let data = locked(session(), { agentDid: A, path: '/x', intent: 'exclusive' });
    data = locked(data, { agentDid: B, path: '/x', intent: 'read' });
    data = locked(data, { agentDid: B, path: '/y', intent: 'write' });
    const deadlock = failureOf(() => acquire(data, { agentDid: A, path: '/y', intent: 'write' }));
    expect(deadlock.type).toBe(ErrorType.Deadlock);
    expect([...(hvErrorDetails(deadlock).cycle as string[])].sort()).toEqual([A, B]);
  });

  it('refuses agents that cannot act and a closing session', () => {
    expect(failureOf(() => acquire(killed(session(), A), { agentDid: A, path: '/x', intent: 'read' })).type).toBe(
      ErrorType.AgentKilled,
    );
    expect(failureOf(() => acquire(session(), { agentDid: did('ghost'), path: '/x', intent: 'read' })).type).toBe(
      ErrorType.NotParticipant,
    );
    const closing = beginTermination(session(), { reason: 'x' }, ctx()).data;
    expect(failureOf(() => acquire(closing, { agentDid: A, path: '/x', intent: 'read' })).type).toBe(
      ErrorType.IllegalTransition,
    );
  });
});

describe('releaseSessionLock', () => {
  it('releases the holder’s lock and hands the path on to the queue, in request order', () => {
    let data = locked(session(), { agentDid: A, path: '/x', intent: 'exclusive' });
    data = locked(data, { agentDid: B, path: '/x', intent: 'write', ttlSeconds: 30 });
    data = locked(data, { agentDid: C, path: '/x', intent: 'read', ttlSeconds: 30 });
    const out = release(data, A, 'lock:1', NOW + 10);
    expect(out.result).toMatchObject({ lockId: 'lock:1', agentDid: A, status: 'granted' });
    expect(out.events).toEqual([
      {
        kind: 'lock_released',
        agentDid: A,
        payload: {
          lockId: 'lock:1',
          path: '/x',
          intent: 'exclusive',
          status: 'granted',
          expiresAtMs: NOW + 60_000,
          why: 'release',
        },
      },
      {
        kind: 'lock_granted',
        agentDid: B,
        payload: { lockId: 'lock:2', path: '/x', intent: 'write', status: 'granted', expiresAtMs: NOW + 10 + 30_000 },
      },
      {
        kind: 'lock_granted',
        agentDid: C,
        payload: { lockId: 'lock:3', path: '/x', intent: 'read', status: 'granted', expiresAtMs: NOW + 10 + 30_000 },
      },
    ]);
    expect(sessionLocks(out.data, { path: '/x' }).map((l) => [l.agentDid, l.status])).toEqual([
      [B, 'granted'],
      [C, 'granted'],
    ]);
  });

  it('refuses another agent’s lock and an unknown one', () => {
    const data = locked(session(), { agentDid: A, path: '/x', intent: 'write' });
    expect(failureOf(() => release(data, B, 'lock:1')).type).toBe(ErrorType.PermissionDenied);
    expect(failureOf(() => release(data, A, 'lock:9')).type).toBe(ErrorType.NotFound);
    expect(failureOf(() => release(data, did('ghost'), 'lock:1')).type).toBe(ErrorType.NotParticipant);
  });
});

describe('sessionLocks', () => {
  it('filters by holder and by (normalised) path, in request order', () => {
    let data = locked(session(), { agentDid: A, path: '/x', intent: 'read' });
    data = locked(data, { agentDid: B, path: '/y', intent: 'read' });
    data = locked(data, { agentDid: A, path: '/y', intent: 'read' });
    const ids = (filter: Parameters<typeof sessionLocks>[1]) =>
      sessionLocks(deepFreeze(data), filter).map((l) => l.lockId);
    expect(ids({})).toEqual(['lock:1', 'lock:2', 'lock:3']);
    expect(ids({ agentDid: A })).toEqual(['lock:1', 'lock:3']);
    expect(ids({ path: 'y/' })).toEqual(['lock:2', 'lock:3']);
    expect(ids({ agentDid: B, path: '/y' })).toEqual(['lock:2']);
    expect(ids({ agentDid: C })).toEqual([]);
  });
});

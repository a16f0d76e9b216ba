import { deepFreeze, failureOf } from '../helpers/domain.js';
import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../domain/errors.js';
import {
  LOCK_LIMITS,
  emptyLockTable,
  expireLocks,
  intentsCompatible,
  locksOf,
  nextLockDeadline,
  releaseAgentLocks,
  releaseAllLocks,
  releaseLock,
  requestLock,
  waitForGraph,
  type LockIntent,
  type LockRequest,
  type LockTable,
} from '../../domain/intent-locks.js';

const A = 'did:mesh:alice';
const B = 'did:mesh:bob';
const C = 'did:mesh:carol';
const T0 = 1_000_000;

let nextId = 0;
/** Requests a lock with defaults filled in and a fresh lock id. */
function request(table: LockTable, r: Partial<LockRequest> & Pick<LockRequest, 'agentDid' | 'path' | 'intent'>) {
  nextId += 1;
  return requestLock(table, { lockId: `lock-${nextId}`, nowMs: T0, ...r });
}

/** Applies requests in order and returns the table and each resulting lock. */
function build(requests: (Partial<LockRequest> & Pick<LockRequest, 'agentDid' | 'path' | 'intent'>)[]) {
  let table = emptyLockTable();
  const locks = requests.map((r) => {
    const out = request(table, r);
    table = out.table;
    return out.lock;
  });
  return { table, locks };
}

const statuses = (table: LockTable) => locksOf(table, {}).map((l) => `${l.agentDid.slice(9)}:${l.intent}:${l.status}`);

describe('intentsCompatible', () => {
  const intents: LockIntent[] = ['read', 'write', 'exclusive'];
  const expected: Record<LockIntent, Record<LockIntent, boolean>> = {
    read: { read: true, write: true, exclusive: false },
    write: { read: true, write: false, exclusive: false },
    exclusive: { read: false, write: false, exclusive: false },
  };

  it.each(intents.flatMap((a) => intents.map((b) => [a, b] as const)))('%s + %s follows the matrix', (a, b) => {
    expect(intentsCompatible(a, b)).toBe(expected[a][b]);
    expect(intentsCompatible(b, a)).toBe(expected[a][b]);
  });

  it('applies the matrix between agents on one path and not across paths', () => {
    const { locks } = build([
      { agentDid: A, path: '/x', intent: 'read' },
      { agentDid: B, path: '/x', intent: 'write' },
      { agentDid: C, path: '/x', intent: 'write' },
      { agentDid: C, path: '/y', intent: 'exclusive' },
    ]);
    expect(locks.map((l) => l.status)).toEqual(['granted', 'granted', 'queued', 'granted']);
  });
});

describe('requestLock', () => {
  it('grants with the default ttl and records the saga step', () => {
    const { lock, table } = request(emptyLockTable(), { agentDid: A, path: '/x', intent: 'write', sagaStepId: 's1' });
    expect(lock).toMatchObject({
      agentDid: A,
      path: '/x',
      intent: 'write',
      status: 'granted',
      requestedAtMs: T0,
      grantedAtMs: T0,
      ttlMs: LOCK_LIMITS.defaultTtlMs,
      expiresAtMs: T0 + LOCK_LIMITS.defaultTtlMs,
      sagaStepId: 's1',
    });
    expect(table.seq).toBe(1);
    expect(table.order).toEqual([lock.lockId]);
  });

  it('queues a conflicting request with a give-up deadline of requestedAtMs + ttlMs', () => {
    const { table } = build([{ agentDid: A, path: '/x', intent: 'exclusive' }]);
    const { lock } = request(table, { agentDid: B, path: '/x', intent: 'read', ttlMs: 5_000, nowMs: T0 + 10 });
    expect(lock).toMatchObject({ status: 'queued', grantedAtMs: null, expiresAtMs: T0 + 10 + 5_000 });
  });

  it.each([0, -1, 1.5, LOCK_LIMITS.maxTtlMs + 1, Number.NaN])('rejects ttlMs %s as InvalidInput', (ttlMs) => {
    const failure = failureOf(() => request(emptyLockTable(), { agentDid: A, path: '/x', intent: 'read', ttlMs }));
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toContain('ttlMs');
  });

  it('accepts the maximum ttl', () => {
    const { lock } = request(emptyLockTable(), {
      agentDid: A,
      path: '/x',
      intent: 'read',
      ttlMs: LOCK_LIMITS.maxTtlMs,
    });
    expect(lock.expiresAtMs).toBe(T0 + LOCK_LIMITS.maxTtlMs);
  });

  it('rejects a duplicate lock id as InvalidInput', () => {
    const { table, lock } = request(emptyLockTable(), { agentDid: A, path: '/x', intent: 'read' });
    const failure = failureOf(() => request(table, { lockId: lock.lockId, agentDid: B, path: '/y', intent: 'read' }));
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toContain(lock.lockId);
  });

  it('treats lock ids that look like Object.prototype members as ordinary ids', () => {
    const { table } = request(emptyLockTable(), { lockId: 'toString', agentDid: A, path: '/x', intent: 'read' });
    expect(table.locks['toString']?.status).toBe('granted');
    expect(() =>
      request(emptyLockTable(), { lockId: 'constructor', agentDid: A, path: '/x', intent: 'read' }),
    ).not.toThrow();
  });

  it('refuses with LimitExceeded once the table holds maxLocks locks', () => {
    const locks = Object.fromEntries(
      Array.from({ length: LOCK_LIMITS.maxLocks }, (_, i) => [
        `l${i}`,
        {
          lockId: `l${i}`,
          agentDid: A,
          path: `/p${i}`,
          intent: 'read' as const,
          status: 'granted' as const,
          requestedAtMs: T0,
          grantedAtMs: T0,
          expiresAtMs: T0 + 1000,
          ttlMs: 1000,
          sagaStepId: null,
        },
      ]),
    );
    const full: LockTable = { locks, seq: LOCK_LIMITS.maxLocks, order: Object.keys(locks) };
    const failure = failureOf(() => request(full, { agentDid: B, path: '/x', intent: 'read' }));
    expect(failure.type).toBe(ErrorType.LimitExceeded);
    expect(failure.message).toContain(B);
  });
});

describe('FIFO queue', () => {
  it('grants queued requests in request order when the holder releases', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'write' },
      { agentDid: B, path: '/x', intent: 'write' },
      { agentDid: C, path: '/x', intent: 'write' },
    ]);
    expect(statuses(table)).toEqual(['alice:write:granted', 'bob:write:queued', 'carol:write:queued']);

    const first = releaseLock(table, { lockId: locks[0]!.lockId, agentDid: A, nowMs: T0 + 100 });
    expect(first.released.lockId).toBe(locks[0]!.lockId);
    expect(first.granted.map((l) => l.agentDid)).toEqual([B]);
    expect(first.granted[0]).toMatchObject({ grantedAtMs: T0 + 100, expiresAtMs: T0 + 100 + LOCK_LIMITS.defaultTtlMs });
    expect(statuses(first.table)).toEqual(['bob:write:granted', 'carol:write:queued']);

    const second = releaseLock(first.table, { lockId: locks[1]!.lockId, agentDid: B, nowMs: T0 + 200 });
    expect(second.granted.map((l) => l.agentDid)).toEqual([C]);
  });

  it('grants every compatible waiter at once when an exclusive holder releases', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'exclusive' },
      { agentDid: B, path: '/x', intent: 'read' },
      { agentDid: C, path: '/x', intent: 'write' },
    ]);
    const { granted } = releaseLock(table, { lockId: locks[0]!.lockId, agentDid: A, nowMs: T0 + 1 });
    expect(granted.map((l) => l.agentDid)).toEqual([B, C]);
  });

  it('keeps a reader that arrives after a queued exclusive request waiting, so readers cannot starve it', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'read' },
      { agentDid: B, path: '/x', intent: 'exclusive' },
      { agentDid: C, path: '/x', intent: 'read' },
    ]);
    expect(statuses(table)).toEqual(['alice:read:granted', 'bob:exclusive:queued', 'carol:read:queued']);

    const afterA = releaseLock(table, { lockId: locks[0]!.lockId, agentDid: A, nowMs: T0 + 1 });
    expect(afterA.granted.map((l) => l.agentDid)).toEqual([B]);
    expect(statuses(afterA.table)).toEqual(['bob:exclusive:granted', 'carol:read:queued']);

    const afterB = releaseLock(afterA.table, { lockId: locks[1]!.lockId, agentDid: B, nowMs: T0 + 2 });
    expect(afterB.granted.map((l) => l.agentDid)).toEqual([C]);
  });

  it('lets readers join a writer (no starvation issue: read and write are compatible)', () => {
    const { locks } = build([
      { agentDid: A, path: '/x', intent: 'write' },
      { agentDid: B, path: '/x', intent: 'write' },
      { agentDid: C, path: '/x', intent: 'read' },
    ]);
    expect(locks.map((l) => l.status)).toEqual(['granted', 'queued', 'granted']);
  });
});

describe('same-agent re-entry', () => {
  it('never conflicts with the same agent: exclusive twice and an upgrade are granted', () => {
    const { locks } = build([
      { agentDid: A, path: '/x', intent: 'exclusive' },
      { agentDid: A, path: '/x', intent: 'exclusive' },
      { agentDid: A, path: '/y', intent: 'read' },
      { agentDid: A, path: '/y', intent: 'write' },
    ]);
    expect(locks.map((l) => l.status)).toEqual(['granted', 'granted', 'granted', 'granted']);
  });

  it('upgrades read to write next to another reader', () => {
    const { locks } = build([
      { agentDid: A, path: '/x', intent: 'read' },
      { agentDid: B, path: '/x', intent: 'read' },
      { agentDid: A, path: '/x', intent: 'write' },
    ]);
    expect(locks[2]!.status).toBe('granted');
  });

  it('queues an upgrade to exclusive behind another reader', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'read' },
      { agentDid: B, path: '/x', intent: 'read' },
      { agentDid: A, path: '/x', intent: 'exclusive' },
    ]);
    expect(locks[2]!.status).toBe('queued');
    expect(waitForGraph(table)).toEqual({ [A]: [B] });
    const { granted } = releaseLock(table, { lockId: locks[1]!.lockId, agentDid: B, nowMs: T0 + 1 });
    expect(granted.map((l) => l.lockId)).toEqual([locks[2]!.lockId]);
  });

  it('refuses an upgrade that would wait behind a request waiting for the upgrader (conversion deadlock)', () => {
    const { table } = build([
      { agentDid: A, path: '/x', intent: 'read' },
      { agentDid: B, path: '/x', intent: 'exclusive' },
    ]);
    const failure = failureOf(() => request(table, { agentDid: A, path: '/x', intent: 'exclusive' }));
    expect(failure.type).toBe(ErrorType.Deadlock);
    expect(hvErrorDetails(failure)['cycle']).toEqual([A, B]);
  });
});

describe('expiry', () => {
  it('expires a granted lock at grantedAtMs + ttlMs and grants the queue', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'write', ttlMs: 1_000 },
      { agentDid: B, path: '/x', intent: 'write', ttlMs: 10_000, nowMs: T0 + 500 },
    ]);
    expect(nextLockDeadline(table)).toBe(T0 + 1_000);

    const early = expireLocks(table, T0 + 999);
    expect(early.expired).toEqual([]);
    expect(early.granted).toEqual([]);

    const { table: next, expired, granted } = expireLocks(table, T0 + 1_000);
    expect(expired.map((l) => l.lockId)).toEqual([locks[0]!.lockId]);
    expect(granted).toEqual([
      { ...locks[1]!, status: 'granted', grantedAtMs: T0 + 1_000, expiresAtMs: T0 + 1_000 + 10_000 },
    ]);
    expect(nextLockDeadline(next)).toBe(T0 + 11_000);
  });

  it('times out a queued request at requestedAtMs + ttlMs while the holder keeps its lock', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'exclusive', ttlMs: 60_000 },
      { agentDid: B, path: '/x', intent: 'read', ttlMs: 2_000, nowMs: T0 + 100 },
    ]);
    expect(nextLockDeadline(table)).toBe(T0 + 2_100);
    const { table: next, expired, granted } = expireLocks(table, T0 + 2_100);
    expect(expired.map((l) => l.lockId)).toEqual([locks[1]!.lockId]);
    expect(granted).toEqual([]);
    expect(statuses(next)).toEqual(['alice:exclusive:granted']);
    expect(waitForGraph(next)).toEqual({});
  });

  it('has no deadline for an empty table', () => {
    expect(nextLockDeadline(emptyLockTable())).toBeNull();
  });
});

describe('deadlock detection', () => {
  it('refuses the request that closes a two-agent cycle and leaves the table unchanged', () => {
    const { table } = build([
      { agentDid: A, path: '/x', intent: 'write' },
      { agentDid: B, path: '/y', intent: 'write' },
      { agentDid: A, path: '/y', intent: 'write' },
    ]);
    expect(statuses(table)).toEqual(['alice:write:granted', 'bob:write:granted', 'alice:write:queued']);
    expect(waitForGraph(table)).toEqual({ [A]: [B] });

    const snapshot = structuredClone(table);
    const failure = failureOf(() => request(table, { agentDid: B, path: '/x', intent: 'write' }));
    expect(failure.type).toBe(ErrorType.Deadlock);
    expect(failure.message).toContain(`${B} -> ${A} -> ${B}`);
    expect(failure.message).toContain('/x');
    expect(hvErrorDetails(failure)).toMatchObject({ agentDid: B, path: '/x', intent: 'write', cycle: [B, A] });
    expect(table).toEqual(snapshot);
    expect(locksOf(table, { agentDid: B })).toMatchObject([{ path: '/y', status: 'granted' }]);
  });

  it('detects a three-agent cycle', () => {
    const { table } = build([
      { agentDid: A, path: '/a', intent: 'exclusive' },
      { agentDid: B, path: '/b', intent: 'exclusive' },
      { agentDid: C, path: '/c', intent: 'exclusive' },
      { agentDid: A, path: '/b', intent: 'read' },
      { agentDid: B, path: '/c', intent: 'write' },
    ]);
    expect(waitForGraph(table)).toEqual({ [A]: [B], [B]: [C] });
    const failure = failureOf(() => request(table, { agentDid: C, path: '/a', intent: 'read' }));
    expect(failure.type).toBe(ErrorType.Deadlock);
    expect(hvErrorDetails(failure)['cycle']).toEqual([C, A, B]);
  });

  it('counts edges to earlier queued requests, not only to holders', () => {
    // B waits behind A's queued exclusive request on /x, A waits for C; C asking for B's /y closes C -> B -> A -> C.
    const { table } = build([
      { agentDid: C, path: '/x', intent: 'read' },
      { agentDid: B, path: '/y', intent: 'write' },
      { agentDid: A, path: '/x', intent: 'exclusive' },
      { agentDid: B, path: '/x', intent: 'read' },
    ]);
    expect(waitForGraph(table)).toEqual({ [A]: [C], [B]: [A] });
    const failure = failureOf(() => request(table, { agentDid: C, path: '/y', intent: 'write' }));
    expect(hvErrorDetails(failure)['cycle']).toEqual([C, B, A]);
  });

  it('queues a request that waits without closing a cycle', () => {
    const { table } = build([
      { agentDid: A, path: '/x', intent: 'write' },
      { agentDid: B, path: '/x', intent: 'write' },
      { agentDid: C, path: '/x', intent: 'write' },
    ]);
    expect(waitForGraph(table)).toEqual({ [B]: [A], [C]: [A, B] });
  });
});

describe('bulk release', () => {
  it('releaseAgentLocks releases granted and queued locks of one agent and grants the others', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'exclusive' },
      { agentDid: B, path: '/y', intent: 'exclusive' },
      { agentDid: A, path: '/y', intent: 'read' },
      { agentDid: C, path: '/x', intent: 'write' },
      { agentDid: C, path: '/y', intent: 'read' },
    ]);
    expect(statuses(table)).toEqual([
      'alice:exclusive:granted',
      'bob:exclusive:granted',
      'alice:read:queued',
      'carol:write:queued',
      'carol:read:queued',
    ]);
    const { table: next, released, granted } = releaseAgentLocks(table, A, T0 + 5);
    expect(released.map((l) => l.lockId)).toEqual([locks[0]!.lockId, locks[2]!.lockId]);
    expect(granted.map((l) => l.lockId)).toEqual([locks[3]!.lockId]);
    expect(statuses(next)).toEqual(['bob:exclusive:granted', 'carol:write:granted', 'carol:read:queued']);
    expect(locksOf(next, { agentDid: A })).toEqual([]);
  });

  it('releaseAgentLocks of an agent without locks changes nothing', () => {
    const { table } = build([{ agentDid: A, path: '/x', intent: 'read' }]);
    const out = releaseAgentLocks(table, B, T0);
    expect(out.released).toEqual([]);
    expect(out.granted).toEqual([]);
    expect(out.table).toEqual(table);
  });

  it('releaseAllLocks empties the table but keeps the request counter', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'write' },
      { agentDid: B, path: '/x', intent: 'write' },
    ]);
    const out = releaseAllLocks(table);
    expect(out.released.map((l) => l.lockId)).toEqual(locks.map((l) => l.lockId));
    expect(out.table).toEqual({ locks: {}, seq: 2, order: [] });
    expect(nextLockDeadline(out.table)).toBeNull();
  });
});

describe('releaseLock errors', () => {
  it('reports an unknown lock id as NotFound', () => {
    const failure = failureOf(() => releaseLock(emptyLockTable(), { lockId: 'nope', agentDid: A, nowMs: T0 }));
    expect(failure.type).toBe(ErrorType.NotFound);
    expect(failure.message).toContain('nope');
  });

  it("refuses to release another agent's lock with PermissionDenied", () => {
    const { table, locks } = build([{ agentDid: A, path: '/x', intent: 'write' }]);
    const failure = failureOf(() => releaseLock(table, { lockId: locks[0]!.lockId, agentDid: B, nowMs: T0 }));
    expect(failure.type).toBe(ErrorType.PermissionDenied);
    expect(failure.message).toContain(A);
    expect(failure.message).toContain(B);
    expect(failure.message).toContain('/x');
  });

  it('releases a queued request without granting anything else', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'exclusive' },
      { agentDid: B, path: '/x', intent: 'read' },
    ]);
    const out = releaseLock(table, { lockId: locks[1]!.lockId, agentDid: B, nowMs: T0 + 1 });
    expect(out.granted).toEqual([]);
    expect(statuses(out.table)).toEqual(['alice:exclusive:granted']);
  });
});

describe('locksOf', () => {
  it('filters by agent, by path, by both, and returns all in request order for an empty filter', () => {
    const { table } = build([
      { agentDid: A, path: '/x', intent: 'read' },
      { agentDid: B, path: '/x', intent: 'read' },
      { agentDid: A, path: '/y', intent: 'read' },
    ]);
    expect(locksOf(table, { agentDid: A }).map((l) => l.path)).toEqual(['/x', '/y']);
    expect(locksOf(table, { path: '/x' }).map((l) => l.agentDid)).toEqual([A, B]);
    expect(locksOf(table, { agentDid: A, path: '/y' })).toHaveLength(1);
    expect(locksOf(table, {})).toHaveLength(3);
  });
});

describe('purity and serialisation', () => {
  it('never mutates its inputs', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'exclusive', ttlMs: 1_000 },
      { agentDid: B, path: '/x', intent: 'write' },
      { agentDid: C, path: '/x', intent: 'write' },
    ]);
    const frozen = deepFreeze(table);
    const snapshot = structuredClone(table);

    request(frozen, { agentDid: A, path: '/y', intent: 'read' });
    request(frozen, { agentDid: C, path: '/x', intent: 'read' });
    releaseLock(frozen, { lockId: locks[0]!.lockId, agentDid: A, nowMs: T0 + 1 });
    releaseAgentLocks(frozen, B, T0 + 1);
    releaseAllLocks(frozen);
    expireLocks(frozen, T0 + 1_000);
    waitForGraph(frozen);
    locksOf(frozen, { path: '/x' });
    nextLockDeadline(frozen);

    expect(frozen).toEqual(snapshot);
  });

  it('survives a JSON round trip (continue-as-new) and behaves the same afterwards', () => {
    const { table, locks } = build([
      { agentDid: A, path: '/x', intent: 'exclusive' },
      { agentDid: B, path: '/x', intent: 'read', sagaStepId: 'step-1' },
    ]);
    const revived = JSON.parse(JSON.stringify(table)) as LockTable;
    expect(revived).toEqual(table);
    const direct = releaseLock(table, { lockId: locks[0]!.lockId, agentDid: A, nowMs: T0 + 1 });
    const viaJson = releaseLock(revived, { lockId: locks[0]!.lockId, agentDid: A, nowMs: T0 + 1 });
    expect(viaJson).toEqual(direct);
    expect(JSON.parse(JSON.stringify(direct.table))).toEqual(direct.table);
  });
});

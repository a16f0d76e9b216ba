import { z } from 'zod';
import { LOCK_INTENTS } from './enum-values.js';
import { ErrorType, hvError } from './errors.js';

/**
 * Intent locks on session resources (docs/DESIGN.md §R2: in the reference the manager is a stub that grants everything).
 *
 * Every operation answers at once: a request is either granted or queued, never awaited, because the caller is a
 * Temporal update handler that must not block. Queued requests are granted later, in request order, when holders
 * release or expire. The table is plain JSON so it survives continue-as-new, and every function returns a new table.
 *
 * Invariant: the wait-for graph is acyclic. Edges are only ever created by a new request (granting or removing locks
 * never adds one: a request is granted only when no earlier-queued request of another agent conflicts with it), so
 * refusing the request that would close a cycle is enough to keep every session free of deadlocks.
 */

export const LockIntent = z.enum(LOCK_INTENTS);
export type LockIntent = z.infer<typeof LockIntent>;

/** Bounds that keep a lock table small enough to carry through continue-as-new and to scan on every request. */
export const LOCK_LIMITS = { defaultTtlMs: 60_000, maxTtlMs: 3_600_000, maxLocks: 10_000 } as const;

export interface IntentLock {
  lockId: string;
  agentDid: string;
  /** Already normalised by the caller; locks on different strings never interact. */
  path: string;
  intent: LockIntent;
  status: 'granted' | 'queued';
  requestedAtMs: number;
  grantedAtMs: number | null;
  /** `grantedAtMs + ttlMs` once granted; `requestedAtMs + ttlMs` while queued (a request gives up waiting then). */
  expiresAtMs: number;
  ttlMs: number;
  sagaStepId: string | null;
}

export interface LockTable {
  locks: Record<string, IntentLock>;
  /** Count of requests accepted so far; never decreases, not even when the table is emptied. */
  seq: number;
  /** Lock ids in request order: the FIFO queue for every path. */
  order: string[];
}

export interface LockRequest {
  lockId: string;
  agentDid: string;
  path: string;
  intent: LockIntent;
  ttlMs?: number;
  nowMs: number;
  sagaStepId?: string;
}

export const emptyLockTable = (): LockTable => ({ locks: {}, seq: 0, order: [] });

/**
 * The usual intent-lock matrix: readers share with readers and with a writer (they see committed state while the
 * writer holds its intent), two writers conflict, and exclusive conflicts with everything. Symmetric.
 */
export function intentsCompatible(a: LockIntent, b: LockIntent): boolean {
  if (a === 'exclusive' || b === 'exclusive') return false;
  return a === 'read' || b === 'read';
}

/**
 * Grants the request or queues it, without ever waiting.
 *
 * It is granted iff it is compatible with every granted lock of other agents on the path and with every request other
 * agents queued on the path before it; the second condition keeps a stream of readers from starving a queued
 * exclusive request. Locks of the same agent never conflict (re-entrant, so an agent may upgrade read → write when no
 * other agent conflicts). Before queuing, the request's wait-for edges are added to the graph; if they close a cycle
 * the request is refused with `Deadlock` and the table is left as it was.
 *
 * Expired locks still count until {@link expireLocks} removes them, so callers sweep with the same `nowMs` first.
 *
 * @throws `InvalidInput` for a malformed request, a ttl outside 1..{@link LOCK_LIMITS}.maxTtlMs or a lock id already
 *   in use; `LimitExceeded` when the table is full; `Deadlock` when waiting would close a cycle.
 */
export function requestLock(table: LockTable, r: LockRequest): { table: LockTable; lock: IntentLock } {
  const ttlMs = r.ttlMs ?? LOCK_LIMITS.defaultTtlMs;
  assertValidRequest(r, ttlMs);
  if (Object.hasOwn(table.locks, r.lockId)) {
    throw hvError(ErrorType.InvalidInput, `lock id ${r.lockId} is already in use`, { lockId: r.lockId });
  }
  if (table.order.length >= LOCK_LIMITS.maxLocks) {
    throw hvError(
      ErrorType.LimitExceeded,
      `cannot lock ${r.path} for ${r.agentDid}: the session already holds ${LOCK_LIMITS.maxLocks} locks, the maximum`,
      { agentDid: r.agentDid, path: r.path, maxLocks: LOCK_LIMITS.maxLocks },
    );
  }

  const candidate: IntentLock = {
    lockId: r.lockId,
    agentDid: r.agentDid,
    path: r.path,
    intent: r.intent,
    status: 'queued',
    requestedAtMs: r.nowMs,
    grantedAtMs: null,
    expiresAtMs: r.nowMs + ttlMs,
    ttlMs,
    sagaStepId: r.sagaStepId ?? null,
  };
  const onPath = orderedLocks(table).filter((lock) => lock.path === r.path);
  const blockers = blockersOf(candidate, onPath, onPath.length);

  let lock = candidate;
  if (blockers.length === 0) {
    lock = grantAt(candidate, r.nowMs);
  } else {
    const graph = waitForGraph(table);
    graph[r.agentDid] = uniqueSorted([...(graph[r.agentDid] ?? []), ...blockers.map((b) => b.agentDid)]);
    const cycle = cycleThrough(graph, r.agentDid);
    if (cycle) {
      throw hvError(
        ErrorType.Deadlock,
        `${r.agentDid} cannot wait for a ${r.intent} lock on ${r.path}: it would deadlock (${[...cycle, r.agentDid].join(' -> ')})`,
        { lockId: r.lockId, agentDid: r.agentDid, path: r.path, intent: r.intent, cycle },
      );
    }
  }

  return {
    table: { locks: { ...table.locks, [lock.lockId]: lock }, seq: table.seq + 1, order: [...table.order, lock.lockId] },
    lock,
  };
}

/**
 * Releases one lock (granted or still queued) and grants whatever the release unblocks, in request order.
 *
 * @throws `NotFound` for an unknown id (never granted, already released or expired); `PermissionDenied` when the lock
 *   belongs to another agent.
 */
export function releaseLock(
  table: LockTable,
  r: { lockId: string; agentDid: string; nowMs: number },
): { table: LockTable; released: IntentLock; granted: IntentLock[] } {
  const released = Object.hasOwn(table.locks, r.lockId) ? table.locks[r.lockId] : undefined;
  if (!released) {
    throw hvError(ErrorType.NotFound, `lock ${r.lockId} not found: it was never granted, or was released or expired`, {
      lockId: r.lockId,
      agentDid: r.agentDid,
    });
  }
  if (released.agentDid !== r.agentDid) {
    throw hvError(
      ErrorType.PermissionDenied,
      `${r.agentDid} cannot release lock ${r.lockId} on ${released.path}: it belongs to ${released.agentDid}`,
      { lockId: r.lockId, agentDid: r.agentDid, holderDid: released.agentDid, path: released.path },
    );
  }
  const { table: next, granted } = removeAndGrant(table, [released], r.nowMs);
  return { table: next, released, granted };
}

/** Releases every lock of `agentDid`, granted or queued (an agent leaving or being killed), then grants the queue. */
export function releaseAgentLocks(
  table: LockTable,
  agentDid: string,
  nowMs: number,
): { table: LockTable; released: IntentLock[]; granted: IntentLock[] } {
  const released = orderedLocks(table).filter((lock) => lock.agentDid === agentDid);
  const { table: next, granted } = removeAndGrant(table, released, nowMs);
  return { table: next, released, granted };
}

/** Drops every lock (the session is closing), in request order. Nothing is granted because nothing is left. */
export function releaseAllLocks(table: LockTable): { table: LockTable; released: IntentLock[] } {
  return { table: { locks: {}, seq: table.seq, order: [] }, released: orderedLocks(table) };
}

/**
 * Removes every lock whose `expiresAtMs` has been reached (`nowMs >= expiresAtMs`): granted locks whose ttl ran out
 * and queued requests that waited too long. Then grants the queue; a lock granted here expires at `nowMs + ttlMs`.
 */
export function expireLocks(
  table: LockTable,
  nowMs: number,
): { table: LockTable; expired: IntentLock[]; granted: IntentLock[] } {
  const expired = orderedLocks(table).filter((lock) => nowMs >= lock.expiresAtMs);
  const { table: next, granted } = removeAndGrant(table, expired, nowMs);
  return { table: next, expired, granted };
}

/** The earliest `expiresAtMs` of any lock, granted or queued, or null: the one timer the session workflow needs. */
export function nextLockDeadline(table: LockTable): number | null {
  let next: number | null = null;
  for (const lock of orderedLocks(table)) {
    if (next === null || lock.expiresAtMs < next) next = lock.expiresAtMs;
  }
  return next;
}

/** Locks matching every given filter field, in request order; an empty filter returns all of them. */
export function locksOf(table: LockTable, filter: { agentDid?: string; path?: string }): IntentLock[] {
  return orderedLocks(table).filter(
    (lock) =>
      (filter.agentDid === undefined || lock.agentDid === filter.agentDid) &&
      (filter.path === undefined || lock.path === filter.path),
  );
}

/**
 * Waiting agent → the agents it waits for (sorted, deduplicated): for each queued request, the holders of conflicting
 * granted locks on its path and the agents with conflicting requests queued there before it. Agents that wait for
 * nobody are absent.
 */
export function waitForGraph(table: LockTable): Record<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const onPath of groupByPath(orderedLocks(table)).values()) {
    onPath.forEach((lock, position) => {
      if (lock.status !== 'queued') return;
      const blockers = blockersOf(lock, onPath, position);
      if (blockers.length === 0) return;
      edges.set(lock.agentDid, [...(edges.get(lock.agentDid) ?? []), ...blockers.map((b) => b.agentDid)]);
    });
  }
  return Object.fromEntries(
    [...edges.keys()].sort().map((agentDid): [string, string[]] => [agentDid, uniqueSorted(edges.get(agentDid) ?? [])]),
  );
}

function assertValidRequest(r: LockRequest, ttlMs: number): void {
  const problems: string[] = [];
  if (typeof r.lockId !== 'string' || r.lockId.length === 0) problems.push('lockId must be a non-empty string');
  if (typeof r.agentDid !== 'string' || r.agentDid.length === 0) problems.push('agentDid must be a non-empty string');
  if (typeof r.path !== 'string' || r.path.length === 0) problems.push('path must be a non-empty string');
  if (!LockIntent.safeParse(r.intent).success) problems.push('intent must be read, write or exclusive');
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > LOCK_LIMITS.maxTtlMs) {
    problems.push(`ttlMs must be an integer from 1 to ${LOCK_LIMITS.maxTtlMs}, got ${String(ttlMs)}`);
  }
  if (!Number.isFinite(r.nowMs)) problems.push('nowMs must be a finite number');
  if (problems.length > 0) {
    throw hvError(
      ErrorType.InvalidInput,
      `invalid lock request for ${r.agentDid} on ${r.path}: ${problems.join('; ')}`,
      {
        lockId: r.lockId,
        agentDid: r.agentDid,
        path: r.path,
        problems,
      },
    );
  }
}

const orderedLocks = (table: LockTable): IntentLock[] =>
  table.order.flatMap((lockId) => (Object.hasOwn(table.locks, lockId) ? (table.locks[lockId] ?? []) : []));

const grantAt = (lock: IntentLock, nowMs: number): IntentLock => ({
  ...lock,
  status: 'granted',
  grantedAtMs: nowMs,
  expiresAtMs: nowMs + lock.ttlMs,
});

const uniqueSorted = (values: readonly string[]): string[] => [...new Set(values)].sort();

function groupByPath(locks: readonly IntentLock[]): Map<string, IntentLock[]> {
  const byPath = new Map<string, IntentLock[]>();
  for (const lock of locks) byPath.set(lock.path, [...(byPath.get(lock.path) ?? []), lock]);
  return byPath;
}

/**
 * The locks of other agents that keep `lock` waiting: conflicting granted locks anywhere in `onPath`, and conflicting
 * requests still queued before `position`. `onPath` holds one path's locks in request order.
 */
function blockersOf(lock: IntentLock, onPath: readonly IntentLock[], position: number): IntentLock[] {
  return onPath.filter(
    (other, index) =>
      other.agentDid !== lock.agentDid &&
      (other.status === 'granted' || index < position) &&
      !intentsCompatible(other.intent, lock.intent),
  );
}

/**
 * Removes `removed` and grants, per affected path in request order, every queued request that now passes the grant
 * test. One pass suffices: a grant only turns an earlier-queued constraint into a granted one for later requests, and
 * can never unblock a request queued before it.
 */
function removeAndGrant(
  table: LockTable,
  removed: readonly IntentLock[],
  nowMs: number,
): { table: LockTable; granted: IntentLock[] } {
  const removedIds = new Set(removed.map((lock) => lock.lockId));
  const touchedPaths = new Set(removed.map((lock) => lock.path));
  const remaining = orderedLocks(table).filter((lock) => !removedIds.has(lock.lockId));

  const grantedById = new Map<string, IntentLock>();
  for (const [path, onPath] of groupByPath(remaining)) {
    if (!touchedPaths.has(path)) continue;
    const current = [...onPath];
    current.forEach((lock, position) => {
      if (lock.status !== 'queued' || blockersOf(lock, current, position).length > 0) return;
      const granted = grantAt(lock, nowMs);
      current[position] = granted;
      grantedById.set(granted.lockId, granted);
    });
  }

  const next = remaining.map((lock) => grantedById.get(lock.lockId) ?? lock);
  return {
    table: {
      locks: Object.fromEntries(next.map((lock) => [lock.lockId, lock])),
      seq: table.seq,
      order: next.map((lock) => lock.lockId),
    },
    granted: next.filter((lock) => grantedById.has(lock.lockId)),
  };
}

/**
 * The shortest cycle through `start` as the agents along it, starting with `start` (the edge from the last back to
 * `start` closes it), or null. Breadth-first over sorted adjacency lists, so the answer is deterministic.
 */
function cycleThrough(graph: Record<string, string[]>, start: string): string[] | null {
  const parent = new Map<string, string>();
  const queue: string[] = [start];
  for (let head = 0; head < queue.length; head += 1) {
    const agent = queue[head] ?? start;
    const waitsFor = Object.hasOwn(graph, agent) ? (graph[agent] ?? []) : [];
    for (const next of waitsFor) {
      if (next === start) {
        const cycle = [agent];
        for (let at = agent; at !== start;) {
          at = parent.get(at) ?? start;
          cycle.unshift(at);
        }
        return cycle;
      }
      if (!parent.has(next)) {
        parent.set(next, agent);
        queue.push(next);
      }
    }
  }
  return null;
}

import { LOCK_LIMITS, locksOf, releaseLock, requestLock, type IntentLock } from '../intent-locks.js';
import type { AcquireLockInput, ReleaseLockInput, SessionData } from '../session-types.js';
import { normalizePath } from '../vfs.js';
import { assertState, event, OPEN_STATES, type OpContext, type OpResult, type Parsed } from './context.js';
import { lockPayload, requireActive, requireParticipant } from './participants.js';

/** Requests an intent lock on a path: granted now, or queued behind conflicting holders. */
export function acquireLock(
  data: SessionData,
  input: Parsed<typeof AcquireLockInput>,
  ctx: OpContext,
): OpResult<IntentLock> {
  assertState(data, OPEN_STATES, 'locking');
  requireActive(data, input.agentDid);
  const out = requestLock(data.locks, {
    lockId: `lock:${ctx.newId()}`,
    agentDid: input.agentDid,
    path: normalizePath(input.path),
    intent: input.intent,
    ttlMs: (input.ttlSeconds ?? LOCK_LIMITS.defaultTtlMs / 1000) * 1000,
    nowMs: ctx.nowMs,
    ...(input.sagaStepId !== undefined ? { sagaStepId: input.sagaStepId } : {}),
  });
  return {
    data: { ...data, locks: out.table },
    result: out.lock,
    events: [
      event(out.lock.status === 'granted' ? 'lock_granted' : 'lock_queued', input.agentDid, lockPayload(out.lock)),
    ],
  };
}

/** Releases the agent's own lock; queued requests it blocked are granted in the same step. */
export function releaseSessionLock(
  data: SessionData,
  input: Parsed<typeof ReleaseLockInput>,
  ctx: OpContext,
): OpResult<IntentLock> {
  requireParticipant(data, input.agentDid);
  const out = releaseLock(data.locks, { lockId: input.lockId, agentDid: input.agentDid, nowMs: ctx.nowMs });
  return {
    data: { ...data, locks: out.table },
    result: out.released,
    events: [
      event('lock_released', input.agentDid, { ...lockPayload(out.released), why: 'release' }),
      ...out.granted.map((lock) => event('lock_granted', lock.agentDid, lockPayload(lock))),
    ],
  };
}

/** The session's locks, optionally by holder or path (for queries). */
export const sessionLocks = (data: SessionData, filter: { agentDid?: string; path?: string }): IntentLock[] =>
  locksOf(data.locks, filter.path !== undefined ? { ...filter, path: normalizePath(filter.path) } : filter);

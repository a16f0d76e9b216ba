import { expiredElevations, nextElevationExpiry } from '../elevation.js';
import { expireLocks, nextLockDeadline } from '../intent-locks.js';
import type { Quarantine, SessionData, SessionEvent } from '../session-types.js';
import { event, type Change } from './context.js';
import { killAgent } from './control.js';
import { lockPayload } from './participants.js';

/** A quarantine that ran out: released, or the agent is killed with `quarantine_timeout`, per its policy. */
function endQuarantine(data: SessionData, q: Quarantine, nowMs: number): Change {
  const quarantines = { ...data.quarantines };
  delete quarantines[q.agentDid];
  const next = { ...data, quarantines };
  const released = event('quarantine_released', q.agentDid, {
    quarantineId: q.quarantineId,
    why: 'timeout',
    onTimeout: q.onTimeout,
  });
  if (q.onTimeout !== 'kill' || next.participants[q.agentDid]?.status !== 'active')
    return { data: next, events: [released] };
  const killed = killAgent(
    next,
    {
      killId: `quarantine-${q.quarantineId}`,
      agentDid: q.agentDid,
      reason: 'quarantine_timeout',
      authorizedBy: q.authorizedBy,
    },
    { nowMs, newId: () => q.quarantineId },
  );
  return { data: killed.data, events: [released, ...killed.events] };
}

/** Expires elevations, locks and quarantines whose time has come. The workflow runs it before every message. */
export function expireTimers(data: SessionData, nowMs: number): Change {
  const events: SessionEvent[] = [];
  const elevations = { ...data.elevations };
  for (const elevation of expiredElevations(data.elevations, nowMs)) {
    delete elevations[elevation.agentDid];
    events.push(
      event('elevation_expired', elevation.agentDid, { elevationId: elevation.elevationId, toRing: elevation.toRing }),
    );
  }
  const locks = expireLocks(data.locks, nowMs);
  for (const lock of locks.expired) events.push(event('lock_expired', lock.agentDid, lockPayload(lock)));
  for (const lock of locks.granted) events.push(event('lock_granted', lock.agentDid, lockPayload(lock)));
  let next: SessionData = { ...data, elevations, locks: locks.table };
  for (const q of Object.values(data.quarantines ?? {})) {
    if (q.untilMs > nowMs) continue;
    const ended = endQuarantine(next, q, nowMs);
    next = ended.data;
    events.push(...ended.events);
  }
  return { data: next, events };
}

/** The earliest moment something in the session expires: the session deadline, an elevation, a lock, a quarantine. */
export function nextDeadline(data: SessionData): number {
  return Math.min(
    data.deadlineMs,
    nextElevationExpiry(data.elevations) ?? Infinity,
    nextLockDeadline(data.locks) ?? Infinity,
    ...Object.values(data.quarantines ?? {}).map((q) => q.untilMs),
  );
}

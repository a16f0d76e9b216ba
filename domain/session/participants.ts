import { effectiveRing as elevatedRing, isElevationActive, type Elevation } from '../elevation.js';
import { ErrorType, hvError } from '../errors.js';
import { releaseAgentLocks, type IntentLock } from '../intent-locks.js';
import { requiredRing, type ActionDescriptor } from '../actions.js';
import type { Ring } from '../rings.js';
import type { Participant, SessionData, SessionEvent } from '../session-types.js';
import { event, type Change } from './context.js';

/** Participants that may still act: neither departed nor killed. */
export const activeParticipants = (data: SessionData): Participant[] =>
  Object.values(data.participants).filter((p) => p.status === 'active');

/** The agent's elevation if it has one that has not expired at `nowMs`. */
export function activeElevation(data: SessionData, agentDid: string, nowMs: number): Elevation | null {
  const elevation = data.elevations[agentDid];
  return elevation && isElevationActive(elevation, nowMs) ? elevation : null;
}

/** The ring an agent acts with now: its earned ring, raised by an active elevation, forced to 3 by a quarantine. */
export function effectiveRingOf(data: SessionData, participant: Participant, nowMs: number): Ring {
  // Quarantine is read-only isolation: ring 3 whatever the agent earned or was elevated to.
  if (data.quarantines?.[participant.agentDid]) return 3;
  return elevatedRing(participant.ring, activeElevation(data, participant.agentDid, nowMs), nowMs);
}

/**
 * The ring `actionId` requires of this participant, or null when its manifest does not declare it. Reads the current
 * form (a ring per action) and the one state carried from before holds (whole descriptors).
 */
export function actionRing(participant: Participant, actionId: string): Ring | null {
  const actions = participant.actions as Record<string, Ring | ActionDescriptor>;
  if (!Object.hasOwn(actions, actionId)) return null;
  const action = actions[actionId]!;
  return typeof action === 'number' ? action : requiredRing(action);
}

/** The participant (in any status), or `NotParticipant`. */
export function requireParticipant(data: SessionData, agentDid: string): Participant {
  const participant = data.participants[agentDid];
  if (!participant) {
    throw hvError(ErrorType.NotParticipant, `agent ${agentDid} is not a participant of session ${data.sessionId}`, {
      agentDid,
      sessionId: data.sessionId,
    });
  }
  return participant;
}

/** The participant, which must be active: killed and departed agents cannot act. */
export function requireActive(data: SessionData, agentDid: string): Participant {
  const participant = requireParticipant(data, agentDid);
  if (participant.status === 'killed') {
    throw hvError(ErrorType.AgentKilled, `agent ${agentDid} was killed in session ${data.sessionId} and cannot act`, {
      agentDid,
      reason: participant.kill?.reason,
    });
  }
  if (participant.status !== 'active') {
    throw hvError(ErrorType.NotParticipant, `agent ${agentDid} has left session ${data.sessionId}`, { agentDid });
  }
  return participant;
}

/** Drops an agent's elevation, if it has one, with the `elevation_revoked` event that says why. */
export function dropElevation(data: SessionData, agentDid: string, why: string): Change {
  const elevation = data.elevations[agentDid];
  if (!elevation) return { data, events: [] };
  const elevations = { ...data.elevations };
  delete elevations[agentDid];
  return {
    data: { ...data, elevations },
    events: [event('elevation_revoked', agentDid, { elevationId: elevation.elevationId, why })],
  };
}

/** The audit payload of a lock event. */
export const lockPayload = (lock: IntentLock): Record<string, unknown> => ({
  lockId: lock.lockId,
  path: lock.path,
  intent: lock.intent,
  status: lock.status,
  expiresAtMs: lock.expiresAtMs,
});

/** Releases everything an agent holds (locks, elevation) as it leaves or is killed; queued locks behind it move up. */
export function releaseHoldings(data: SessionData, agentDid: string, nowMs: number, why: string): Change {
  const events: SessionEvent[] = [];
  const released = releaseAgentLocks(data.locks, agentDid, nowMs);
  for (const lock of released.released) events.push(event('lock_released', agentDid, { ...lockPayload(lock), why }));
  for (const lock of released.granted) events.push(event('lock_granted', lock.agentDid, lockPayload(lock)));
  const dropped = dropElevation({ ...data, locks: released.table }, agentDid, why);
  return { data: dropped.data, events: [...events, ...dropped.events] };
}

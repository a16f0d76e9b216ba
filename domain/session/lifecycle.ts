import { genesisHead } from '../audit-chain.js';
import { ErrorType, hvError } from '../errors.js';
import { emptyLockTable, releaseAllLocks } from '../intent-locks.js';
import type {
  ActivateSessionInput,
  CreateSessionInput,
  SessionCommitment,
  SessionData,
  SessionEvent,
  SessionState,
  TerminateSessionInput,
} from '../session-types.js';
import { emptyVfs } from '../vfs.js';
import { assertState, event, OPEN_STATES, type OpContext, type OpResult, type Parsed } from './context.js';
import { activeParticipants, lockPayload } from './participants.js';

/** The state of a new session: handshaking, nobody in it, an empty chain. */
export function createSessionData(input: Parsed<typeof CreateSessionInput>, nowMs: number): SessionData {
  return {
    sessionId: input.sessionId,
    creatorDid: input.creatorDid,
    config: input.config,
    // The reference passes through a `created` state inside createSession that nothing can observe; we start here.
    state: 'handshaking',
    createdAtMs: nowMs,
    deadlineMs: nowMs + input.config.maxDurationSeconds * 1000,
    terminatedAtMs: null,
    terminationReason: null,
    participants: {},
    approvals: {},
    elevations: {},
    buckets: {},
    breachWindows: {},
    vfs: emptyVfs(),
    locks: emptyLockTable(),
    killIds: [],
    chain: genesisHead(),
    stats: { allowed: 0, denied: 0, breaches: 0 },
    vouches: [],
  };
}

const TRANSITIONS: Record<SessionState, SessionState[]> = {
  handshaking: ['active', 'terminating'],
  active: ['terminating'],
  terminating: ['archived'],
  archived: [],
};

function transition(data: SessionData, to: SessionState): SessionData {
  if (!TRANSITIONS[data.state].includes(to)) {
    throw hvError(ErrorType.IllegalTransition, `illegal session transition ${data.state} → ${to}`, {
      from: data.state,
      to,
    });
  }
  return { ...data, state: to };
}

/** Handshaking → active, once at least one participant is in. */
export function activateSession(
  data: SessionData,
  input: Parsed<typeof ActivateSessionInput>,
): OpResult<{ state: SessionState }> {
  assertState(data, ['handshaking'], 'activating');
  if (activeParticipants(data).length === 0) {
    throw hvError(
      ErrorType.IllegalTransition,
      `session ${data.sessionId} cannot be activated without an active participant`,
      { state: data.state },
    );
  }
  const next = transition(data, 'active');
  return {
    data: next,
    result: { state: next.state },
    events: [event('session_activated', input.authorizedBy ?? null, {})],
  };
}

/**
 * Starts termination: releases every lock and elevation. The workflow records the events, then calls
 * {@link archiveSession} with the final chain head to produce the commitment.
 */
export function beginTermination(
  data: SessionData,
  input: Parsed<typeof TerminateSessionInput>,
  ctx: OpContext,
): OpResult<null> {
  assertState(data, OPEN_STATES, 'terminating');
  const events: SessionEvent[] = [];
  const released = releaseAllLocks(data.locks);
  for (const lock of released.released)
    events.push(event('lock_released', lock.agentDid, { ...lockPayload(lock), why: 'terminate' }));
  for (const elevation of Object.values(data.elevations)) {
    events.push(
      event('elevation_revoked', elevation.agentDid, { elevationId: elevation.elevationId, why: 'terminate' }),
    );
  }
  const next = transition({ ...data, locks: released.table, elevations: {} }, 'terminating');
  events.push(event('session_terminating', input.authorizedBy ?? null, { reason: input.reason }));
  return {
    data: { ...next, terminationReason: input.reason, terminatedAtMs: ctx.nowMs },
    result: null,
    events,
  };
}

/** Terminating → archived, with the commitment to the chain head (signed later by the audit store). */
export function archiveSession(data: SessionData): { data: SessionData; commitment: SessionCommitment } {
  const archived = transition(data, 'archived');
  return {
    data: archived,
    commitment: {
      sessionId: data.sessionId,
      state: archived.state,
      reason: data.terminationReason ?? 'requested',
      root: data.chain.hash,
      entryCount: data.chain.seq,
      participants: Object.keys(data.participants).sort(),
      killSwitchTriggered: data.killSwitchTriggered ?? false,
      terminatedAtMs: data.terminatedAtMs ?? data.createdAtMs,
    },
  };
}

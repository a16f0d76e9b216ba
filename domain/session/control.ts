import { ErrorType, hvError } from '../errors.js';
import type {
  KillAgentInput,
  Participant,
  Quarantine,
  QuarantineInput,
  ReleaseQuarantineInput,
  SessionData,
} from '../session-types.js';
import { assertState, event, OPEN_STATES, type OpContext, type OpResult, type Parsed } from './context.js';
import { dropElevation, effectiveRingOf, releaseHoldings, requireActive, requireParticipant } from './participants.js';

/** How many applied kill ids are remembered for dedupe (carried through continue-as-new). */
export const MAX_REMEMBERED_KILL_IDS = 1000;

/** What became of a killed agent's in-flight saga step: handed to the substitute, or failed (its saga compensates). */
// A type, not an interface: it goes into audit payloads, which must be assignable to `Json`.
export type StepHandOff = {
  sagaId: string;
  stepId: string;
  disposition: 'reassigned' | 'failed';
  substituteDid: string | null;
};

/** The answer to a kill. */
export interface KillResult {
  killId: string;
  agentDid: string;
  reason: string;
  /** False when this kill id was already applied or the agent was already dead: kills are idempotent. */
  applied: boolean;
  releasedLocks: number;
  revokedElevation: boolean;
  /** The killed agent's in-flight saga steps, when the session had sagas running. */
  steps?: StepHandOff[];
}

/**
 * Kills an agent in this session: it can no longer act or rejoin, and what it held is released. Idempotent by kill
 * id and by status, so a re-delivered kill signal changes nothing.
 */
export function killAgent(
  data: SessionData,
  input: Parsed<typeof KillAgentInput>,
  ctx: OpContext,
): OpResult<KillResult> {
  const participant = requireParticipant(data, input.agentDid);
  const noop: KillResult = {
    killId: input.killId,
    agentDid: input.agentDid,
    reason: participant.kill?.reason ?? input.reason,
    applied: false,
    releasedLocks: 0,
    revokedElevation: false,
  };
  if (data.killIds.includes(input.killId) || participant.status === 'killed') return { data, result: noop, events: [] };
  const released = releaseHoldings(data, input.agentDid, ctx.nowMs, 'kill');
  const killed: Participant = {
    ...participant,
    status: 'killed',
    leftAtMs: participant.leftAtMs ?? ctx.nowMs,
    kill: { killId: input.killId, reason: input.reason, authorizedBy: input.authorizedBy, atMs: ctx.nowMs },
  };
  const result: KillResult = {
    ...noop,
    reason: input.reason,
    applied: true,
    releasedLocks: released.events.filter((e) => e.kind === 'lock_released').length,
    revokedElevation: released.events.some((e) => e.kind === 'elevation_revoked'),
  };
  return {
    data: {
      ...released.data,
      participants: { ...released.data.participants, [input.agentDid]: killed },
      killIds: [...data.killIds, input.killId].slice(-MAX_REMEMBERED_KILL_IDS),
    },
    result,
    events: [
      ...released.events,
      event('kill', input.agentDid, {
        killId: input.killId,
        reason: input.reason,
        authorizedBy: input.authorizedBy,
        details: input.details ?? null,
        substituteDid: input.substituteDid ?? null,
      }),
    ],
  };
}

/**
 * Read-only isolation: the agent stays in the session at ring 3 (no writes, no elevation) until the duration ends,
 * then is released or killed. The forensic data go into the audit chain. Idempotent while the quarantine lasts.
 */
export function quarantineAgent(
  data: SessionData,
  input: Parsed<typeof QuarantineInput>,
  ctx: OpContext,
): OpResult<Quarantine> {
  assertState(data, OPEN_STATES, 'quarantining');
  requireActive(data, input.agentDid);
  const existing = data.quarantines?.[input.agentDid];
  if (existing) return { data, result: existing, events: [] };
  const quarantine: Quarantine = {
    quarantineId: ctx.newId(),
    agentDid: input.agentDid,
    reason: input.reason,
    authorizedBy: input.authorizedBy,
    startedAtMs: ctx.nowMs,
    untilMs: ctx.nowMs + input.durationSeconds * 1000,
    onTimeout: input.onTimeout,
  };
  // An elevation cannot outlive the isolation it would bypass.
  const dropped = dropElevation(data, input.agentDid, 'quarantine');
  return {
    data: { ...dropped.data, quarantines: { ...data.quarantines, [input.agentDid]: quarantine } },
    result: quarantine,
    events: [
      ...dropped.events,
      event('quarantine', input.agentDid, { ...quarantine, details: input.details, forensic: input.forensic }),
    ],
  };
}

/** An operator lifts a quarantine before its time. */
export function releaseQuarantine(
  data: SessionData,
  input: Parsed<typeof ReleaseQuarantineInput>,
  _ctx: OpContext,
): OpResult<{ released: boolean }> {
  const q = data.quarantines?.[input.agentDid];
  if (!q) throw hvError(ErrorType.NotFound, `agent ${input.agentDid} is not quarantined`, { agentDid: input.agentDid });
  const quarantines = { ...data.quarantines };
  delete quarantines[input.agentDid];
  return {
    data: { ...data, quarantines },
    result: { released: true },
    events: [
      event('quarantine_released', input.agentDid, {
        quarantineId: q.quarantineId,
        why: 'operator',
        authorizedBy: input.authorizedBy,
        reason: input.reason,
      }),
    ],
  };
}

/**
 * The session's registered substitute for a killed agent (see `SessionConfig.substitutes`): the first one that is
 * active, not quarantined, and at least as privileged as the killed agent's ring.
 */
export function registeredSubstitute(data: SessionData, killedDid: string, nowMs: number): string | undefined {
  const killed = data.participants[killedDid];
  if (!killed) return undefined;
  return data.config.substitutes.find((did) => {
    const p = data.participants[did];
    return (
      did !== killedDid &&
      p?.status === 'active' &&
      !data.quarantines?.[did] &&
      effectiveRingOf(data, p, nowMs) <= killed.ring
    );
  });
}

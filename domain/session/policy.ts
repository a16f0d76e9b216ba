/**
 * The decisions the session workflow makes around the reducers: which recorded events call for follow-up work
 * (slashes, kill hand-offs, kill-switch trips), how saga reports and join refusals are
 * recorded, and which entries the chain may skip. Pure: the workflow only carries them out.
 */
import { ErrorType } from '../errors.js';
import { fromMicro } from '../liability.js';
import type { JoinStanding, SessionData, SessionEvent } from '../session-types.js';
import { event } from './context.js';
import { registeredSubstitute } from './control.js';

/** A slash the session decided (ring breach, kill, escalated saga) and applies through the liability ledger. */
export interface SlashRequest {
  slashId: string;
  culpritDid: string;
  culpritSigma: number;
  reason: string;
}

/**
 * Work a recorded event calls for, done through activities in order after the event: a slash, or handing a killed
 * agent's in-flight saga steps to a substitute. Whatever caused the event (an operator's kill, a ring breach, the kill
 * switch, a quarantine timeout), the follow-up is the same.
 */
export type FollowUp =
  | { kind: 'slash'; slash: SlashRequest }
  | { kind: 'handoff'; killId: string; agentDid: string; substituteDid: string | null }
  /** This session's decision tripped the identity's kill switch: the identity blocks it everywhere. */
  | { kind: 'trip'; agentDid: string; decisionId: string; atMs: number };

/** With `enableAudit: false` the chain skips allowed decisions; governance changes and denials are always recorded. */
export const isRoutineAllow = (e: SessionEvent): boolean =>
  e.kind === 'decision' && (e.payload as { allowed?: boolean }).allowed === true;

const payloadOf = (e: SessionEvent): Record<string, unknown> => (e.payload ?? {}) as Record<string, unknown>;

/** The slash a recorded event calls for under the session's `slashOn` policy, if any. */
export function slashFor(data: SessionData, e: SessionEvent): SlashRequest | null {
  const p = payloadOf(e);
  const sigmaOf = (did: string) => data.participants[did]?.sigmaRaw ?? 0;
  if (e.kind === 'kill' && e.agentDid) {
    const trigger = p.reason === 'ring_breach' ? 'ring_breach' : 'kill';
    if (!data.config.slashOn.includes(trigger)) return null;
    return {
      slashId: `${data.sessionId}/kill/${String(p.killId)}`,
      culpritDid: e.agentDid,
      culpritSigma: sigmaOf(e.agentDid),
      reason: String(p.reason),
    };
  }
  if (e.kind === 'saga_escalated' && typeof p.rootCause === 'string' && data.config.slashOn.includes('saga_escalated'))
    return {
      slashId: `${String(p.sagaId)}/slash`,
      culpritDid: p.rootCause,
      culpritSigma: sigmaOf(p.rootCause),
      reason: 'saga_escalated',
    };
  return null;
}

/**
 * What a recorded event calls for: a kill hands its agent's saga steps off first (when sagas are running), then any
 * slash policy applies.
 */
export function followUpsOf(data: SessionData, e: SessionEvent, sagasRunning: boolean, nowMs: number): FollowUp[] {
  const out: FollowUp[] = [];
  const p = payloadOf(e);
  if (e.kind === 'kill' && e.agentDid && sagasRunning)
    out.push({
      kind: 'handoff',
      killId: String(p.killId),
      agentDid: e.agentDid,
      substituteDid:
        typeof p.substituteDid === 'string' ? p.substituteDid : (registeredSubstitute(data, e.agentDid, nowMs) ?? null),
    });
  if (e.kind === 'break_glass_used' && e.agentDid && p.detected_by === 'session')
    out.push({ kind: 'trip', agentDid: e.agentDid, decisionId: String(p.tripping_decision), atMs: nowMs });
  const slash = slashFor(data, e);
  if (slash) out.push({ kind: 'slash', slash });
  return out;
}

/** The entry of an applied slash: every σ and bond change, in decimals. */
export function slashEvent(
  slash: SlashRequest,
  changes: ReadonlyArray<{ agentDid: string; kind: string; before: number; after: number }>,
): SessionEvent {
  return event('slash', slash.culpritDid, {
    slashId: slash.slashId,
    reason: slash.reason,
    changes: changes.map((c) => ({
      agentDid: c.agentDid,
      kind: c.kind,
      before: fromMicro(c.before),
      after: fromMicro(c.after),
    })),
  });
}

/** The entry of a refused join the chain must show (the identity's kill switch or its liability standing). */
export function joinDeniedEvent(errorType: string, agentDid: string, standing: JoinStanding): SessionEvent | null {
  if (errorType === ErrorType.KillSwitchTripped)
    return event('join_denied', agentDid, { reason: 'kill_switch_tripped' });
  if (errorType === ErrorType.StandingDenied)
    return event('join_denied', agentDid, {
      reason: 'standing',
      riskScore: standing.riskScore,
      blacklisted: standing.blacklisted,
    });
  return null;
}

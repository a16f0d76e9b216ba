import { actionForSeverity, emptyBreachWindow, recordCall } from '../breach-detector.js';
import { leastPrivileged, type Ring } from '../rings.js';
import type { AuthorizeInput, Decision, DecisionReason, SessionData, SessionEvent } from '../session-types.js';
import { bucketForRing, newBucket, resolveRingRateLimits, takeTokens } from '../token-bucket.js';
import {
  assertState,
  event,
  HYPERVISOR_ACTOR,
  type Change,
  type OpContext,
  type OpResult,
  type Parsed,
} from './context.js';
import { killAgent } from './control.js';
import { observeKillSwitch } from './kill-switch.js';
import { actionRing, dropElevation, effectiveRingOf, requireParticipant } from './participants.js';

type Input = Parsed<typeof AuthorizeInput>;

function deny(
  reason: DecisionReason,
  requiredRing: Ring | null,
  effectiveRing: Ring,
  extra: Partial<Pick<Decision, 'retryAfterMs' | 'breach'>> = {},
): Decision {
  return { allowed: false, reason, requiredRing, effectiveRing, retryAfterMs: 0, breach: null, ...extra };
}

/** Lowers an agent's base ring and revokes any elevation; its bucket follows without a fresh burst. */
function demote(data: SessionData, agentDid: string, to: Ring, why: string, nowMs: number): Change {
  const participant = requireParticipant(data, agentDid);
  const dropped = dropElevation(data, agentDid, why);
  const events = [...dropped.events, event('ring_changed', agentDid, { from: participant.ring, to, why })];
  const limits = resolveRingRateLimits(data.config.rateLimits);
  const bucket = data.buckets[agentDid];
  return {
    data: {
      ...dropped.data,
      participants: {
        ...data.participants,
        [agentDid]: { ...participant, ring: leastPrivileged(participant.ring, to) },
      },
      buckets: bucket ? { ...data.buckets, [agentDid]: bucketForRing(bucket, to, limits, nowMs) } : data.buckets,
    },
    events,
  };
}

interface Observed extends Change {
  breach: Decision['breach'];
  /** The ring to judge the call at: 3 after a demotion. */
  ring: Ring;
  killed: boolean;
}

/**
 * Feeds the attempt to the breach detector (every attempt, including the ones the ring check will refuse — those are
 * exactly what it must see) and applies the breach policy: HIGH demotes to ring 3, CRITICAL kills.
 */
function observeBreach(data: SessionData, input: Input, needed: Ring | null, ring: Ring, ctx: OpContext): Observed {
  const participant = requireParticipant(data, input.agentDid);
  const policy = data.config.breachPolicy;
  const observed = recordCall(
    data.breachWindows[input.agentDid] ?? emptyBreachWindow(),
    { nowMs: ctx.nowMs, agentRing: ring, requiredRing: needed ?? ring },
    policy,
  );
  let current: SessionData = { ...data, breachWindows: { ...data.breachWindows, [input.agentDid]: observed.window } };
  const action = actionForSeverity(observed.severity, policy);
  if (observed.severity === 'none') return { data: current, events: [], breach: null, ring, killed: false };
  const breach = { severity: observed.severity, score: observed.score, action };
  current = { ...current, stats: { ...current.stats, breaches: current.stats.breaches + 1 } };
  const events: SessionEvent[] = [
    event('breach', input.agentDid, { ...breach, weightedRate: observed.weightedRate, calls: observed.callsInWindow }),
  ];
  if (action === 'kill') {
    const killed = killAgent(
      current,
      {
        killId: `breach:${ctx.newId()}`,
        agentDid: input.agentDid,
        reason: 'ring_breach',
        authorizedBy: HYPERVISOR_ACTOR,
        details: `breach ${observed.severity}, score ${observed.score.toFixed(2)}`,
      },
      ctx,
    );
    return { data: killed.data, events: [...events, ...killed.events], breach, ring, killed: true };
  }
  if (action === 'demote' && participant.ring !== 3) {
    const demoted = demote(current, input.agentDid, 3, `breach ${observed.severity}`, ctx.nowMs);
    return { data: demoted.data, events: [...events, ...demoted.events], breach, ring: 3, killed: false };
  }
  return { data: current, events, breach, ring, killed: false };
}

/**
 * The single enforcement point for agent actions. Order: participant status → breach detector → breach policy →
 * effective ring vs required ring → token bucket of the effective ring; then the decision counts in the identity's
 * kill switch (the session's copy), which kills the agent here at the crossing decision. A policy denial is a
 * decision, not an error: it is returned and recorded.
 */
export function authorizeAction(data: SessionData, input: Input, ctx: OpContext): OpResult<Decision> {
  assertState(data, ['active'], 'authorizing actions');
  const participant = requireParticipant(data, input.agentDid);
  const needed = actionRing(participant, input.actionId);
  let current = data;
  const events: SessionEvent[] = [];
  const finish = (decision: Decision): OpResult<Decision> => {
    const stats = decision.allowed
      ? { ...current.stats, allowed: current.stats.allowed + 1 }
      : { ...current.stats, denied: current.stats.denied + 1 };
    events.push(event('decision', input.agentDid, { actionId: input.actionId, cost: input.cost, ...decision }));
    // The decision's chain position names it (every event before it is recorded, see `isRoutineAllow`).
    const decisionId = `${data.sessionId}#${data.chain.seq + events.length}`;
    const switched = observeKillSwitch({ ...current, stats }, input.agentDid, decision, decisionId, ctx);
    return { data: switched.data, result: decision, events: [...events, ...switched.events] };
  };

  if (participant.status === 'killed') return finish(deny('agent_killed', needed, participant.ring));
  if (participant.status === 'left') return finish(deny('agent_left', needed, participant.ring));

  const observed = observeBreach(current, input, needed, effectiveRingOf(current, participant, ctx.nowMs), ctx);
  const { breach, ring } = observed;
  current = observed.data;
  events.push(...observed.events);
  if (observed.killed) return finish(deny('ring_breach', needed, ring, { breach }));
  if (needed === null) return finish(deny('unknown_action', null, ring, { breach }));
  if (ring > needed) return finish(deny('ring_violation', needed, ring, { breach }));

  const limits = resolveRingRateLimits(current.config.rateLimits);
  const taken = takeTokens(current.buckets[input.agentDid] ?? newBucket(ring, limits, ctx.nowMs), {
    ring,
    limits,
    nowMs: ctx.nowMs,
    cost: input.cost,
  });
  current = { ...current, buckets: { ...current.buckets, [input.agentDid]: taken.bucket } };
  if (!taken.allowed) return finish(deny('rate_limited', needed, ring, { retryAfterMs: taken.retryAfterMs, breach }));
  return finish({
    allowed: true,
    reason: 'allowed',
    requiredRing: needed,
    effectiveRing: ring,
    retryAfterMs: 0,
    breach,
  });
}

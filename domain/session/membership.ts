import { requiredRing } from '../actions.js';
import { ErrorType, hvError } from '../errors.js';
import { killSwitchTripped } from '../kill-switch.js';
import { CARRY_BUDGET, jsonBytes } from '../limits.js';
import { effScore as liabilityEffScore, fromMicro, toMicro } from '../liability.js';
import { childRingCap, leastPrivileged, ringFromEffScore, type Ring } from '../rings.js';
import {
  ADMIT,
  type ApproveJoinInput,
  type JoinResult,
  type JoinSessionInput,
  type JoinStanding,
  type LeaveSessionInput,
  type Participant,
  type SessionData,
} from '../session-types.js';
import { bucketForRing, newBucket, resolveRingRateLimits } from '../token-bucket.js';
import { assertState, event, isOperator, OPEN_STATES, type OpContext, type OpResult, type Parsed } from './context.js';
import { activeParticipants, effectiveRingOf, releaseHoldings, requireActive } from './participants.js';

/**
 * Bound on actions registered across all participants: manifests are carried through continue-as-new with the rest of
 * the session state, which must stay well under Temporal's 2 MiB payload limit.
 */
export const MAX_SESSION_ACTIONS = 2000;
/** Bound on candidates with pending ring-1 approvals, so approvals cannot grow the state without limit. */
export const MAX_PENDING_APPROVALS = 100;

type JoinInput = Parsed<typeof JoinSessionInput>;

/** Active participants whose effective ring is 1 or better: the electorate for ring-1 consensus. */
function privilegedElectorate(data: SessionData, nowMs: number): Participant[] {
  return activeParticipants(data).filter((p) => effectiveRingOf(data, p, nowMs) <= 1);
}

/**
 * Ring 1 needs consensus: approvals from a strict majority of the session's active ring ≤ 1 participants, or — when
 * there are none — from an operator (the creator or a configured operator).
 */
export function hasConsensus(data: SessionData, candidateDid: string, nowMs: number): boolean {
  const approvers = new Set(data.approvals[candidateDid] ?? []);
  const electorate = privilegedElectorate(data, nowMs);
  if (electorate.length === 0) return [...approvers].some((did) => isOperator(data, did));
  const votes = electorate.filter((p) => approvers.has(p.agentDid)).length;
  return votes > electorate.length / 2;
}

/** Records one approval of a candidate's ring-1 join, counted when the candidate joins. */
export function approveJoin(
  data: SessionData,
  input: Parsed<typeof ApproveJoinInput>,
  ctx: OpContext,
): OpResult<{ approvals: string[] }> {
  assertState(data, OPEN_STATES, 'approving a join');
  const { candidateDid, approverDid } = input;
  if (candidateDid === approverDid) {
    throw hvError(ErrorType.PermissionDenied, `agent ${approverDid} cannot approve its own join`, { approverDid });
  }
  const electorate = privilegedElectorate(data, ctx.nowMs);
  const inElectorate = electorate.some((p) => p.agentDid === approverDid);
  if (!inElectorate && !(electorate.length === 0 && isOperator(data, approverDid))) {
    throw hvError(
      ErrorType.PermissionDenied,
      electorate.length === 0
        ? `only an operator of session ${data.sessionId} may approve ring-1 joins while it has no ring ≤ 1 participant`
        : `only active ring ≤ 1 participants may approve ring-1 joins; ${approverDid} is not one`,
      { approverDid, candidateDid },
    );
  }
  const current = data.approvals[candidateDid] ?? [];
  if (!(candidateDid in data.approvals) && Object.keys(data.approvals).length >= MAX_PENDING_APPROVALS) {
    throw hvError(
      ErrorType.LimitExceeded,
      `at most ${MAX_PENDING_APPROVALS} candidates may have pending approvals`,
      {},
    );
  }
  const approvals = current.includes(approverDid) ? current : [...current, approverDid].sort();
  return {
    data: { ...data, approvals: { ...data.approvals, [candidateDid]: approvals } },
    result: { approvals },
    events: [event('join_approved', approverDid, { candidateDid })],
  };
}

/** Who may join at all: open session, not killed here, not already in, room left. Returns the parent's ring cap. */
function assertMayJoin(data: SessionData, input: JoinInput, nowMs: number): Ring {
  assertState(data, OPEN_STATES, 'joining');
  const { agentDid, parentDid } = input;
  const existing = data.participants[agentDid];
  if (existing?.status === 'killed') {
    throw hvError(
      ErrorType.AgentKilled,
      `agent ${agentDid} was killed in session ${data.sessionId} and may not rejoin`,
      { agentDid, reason: existing.kill?.reason },
    );
  }
  if (existing?.status === 'active') {
    throw hvError(ErrorType.AlreadyParticipant, `agent ${agentDid} is already in session ${data.sessionId}`, {
      agentDid,
    });
  }
  if (activeParticipants(data).length >= data.config.maxParticipants) {
    throw hvError(ErrorType.SessionFull, `session ${data.sessionId} is at capacity (${data.config.maxParticipants})`, {
      maxParticipants: data.config.maxParticipants,
    });
  }
  if (parentDid === undefined) return 3;
  if (parentDid === agentDid) {
    throw hvError(ErrorType.InvalidInput, `agent ${agentDid} cannot be its own parent`, { agentDid });
  }
  const parent = data.participants[parentDid];
  if (!parent || parent.status !== 'active') {
    throw hvError(
      ErrorType.NotParticipant,
      `parent ${parentDid} is not an active participant of session ${data.sessionId}`,
      { parentDid },
    );
  }
  return childRingCap(effectiveRingOf(data, parent, nowMs));
}

/** The session-wide bound on registered actions (a rejoin replaces the agent's own manifest). */
function assertActionBudget(data: SessionData, input: JoinInput): void {
  const registered = Object.values(data.participants).reduce(
    (sum, p) => sum + (p.agentDid === input.agentDid ? 0 : Object.keys(p.actions).length),
    0,
  );
  if (registered + input.actions.length > MAX_SESSION_ACTIONS) {
    throw hvError(
      ErrorType.LimitExceeded,
      `session ${data.sessionId} already has ${registered} registered actions; ${input.actions.length} more would exceed ${MAX_SESSION_ACTIONS}`,
      { registered, requested: input.actions.length, limit: MAX_SESSION_ACTIONS },
    );
  }
}

/**
 * The size of what a join grows: the session's state without the parts bounded on their own (shared files, breach
 * windows and kill-switch copies), in UTF-8 bytes of its JSON form, as continue-as-new carries it.
 */
export const sessionStateBytes = (data: SessionData): number =>
  jsonBytes({ ...data, vfs: null, breachWindows: null, killSwitches: null });

/** A join must leave the state within its share of the continue-as-new payload (domain/limits.ts). */
function assertStateBudget(data: SessionData, agentDid: string): void {
  const bytes = sessionStateBytes(data);
  if (bytes > CARRY_BUDGET.stateBytes)
    throw hvError(
      ErrorType.LimitExceeded,
      `session ${data.sessionId} cannot admit ${agentDid}: its state would hold ${bytes} bytes, over the budget of ${CARRY_BUDGET.stateBytes} (participants, registered actions and approvals)`,
      { agentDid, bytes, limit: CARRY_BUDGET.stateBytes },
    );
}

/** The identity's standing outside this session: a tripped kill switch or a `deny` verdict keeps it out. */
function assertStanding(agentDid: string, standing: JoinStanding): void {
  if (standing.killSwitch) throw killSwitchTripped(agentDid, standing.killSwitch);
  if (standing.recommendation === 'deny') {
    throw hvError(
      ErrorType.StandingDenied,
      `agent ${agentDid} is denied by its liability standing (risk ${standing.riskScore.toFixed(3)}${standing.blacklisted ? ', blacklisted' : ''})`,
      { agentDid, riskScore: standing.riskScore, blacklisted: standing.blacklisted },
    );
  }
}

interface Admission {
  ring: Ring;
  effScore: number;
  consensus: boolean;
  sandboxed: boolean;
  probation: boolean;
}

/** The ring a joining agent earns from its eff-score, consensus and standing, capped by its parent. */
function admit(data: SessionData, input: JoinInput, standing: JoinStanding, parentCap: Ring, nowMs: number): Admission {
  const { agentDid, sigmaRaw } = input;
  // σ_L: what the agent presents, never more than what the ledger says of it after slashes.
  const ownSigma = standing.sigma === null ? sigmaRaw : Math.min(sigmaRaw, standing.sigma);
  const effScore = fromMicro(
    liabilityEffScore(toMicro(ownSigma), data.vouches ?? [], agentDid, data.config.liability, nowMs),
  );
  const consensus = hasConsensus(data, agentDid, nowMs);
  const sandboxed = effScore < data.config.minEffScore;
  if (sandboxed && !data.config.allowSandboxJoins) {
    throw hvError(
      ErrorType.TrustTooLow,
      `eff-score ${effScore.toFixed(2)} is below the session minimum ${data.config.minEffScore.toFixed(2)} and this session does not admit sandboxed agents`,
      { agentDid, effScore, minEffScore: data.config.minEffScore },
    );
  }
  const probation = standing.recommendation === 'probation';
  const earned = sandboxed || probation ? 3 : ringFromEffScore(effScore, consensus);
  const ring = input.parentDid !== undefined ? leastPrivileged(earned, parentCap) : earned;
  return { ring, effScore, consensus, sandboxed, probation };
}

/**
 * Admits an agent (or re-admits one that left) at the ring its eff-score earns. `standing` is what the liability
 * ledger and the kill switch say of the identity; the workflow reads it through an activity before calling this.
 */
export function joinSession(
  data: SessionData,
  input: JoinInput,
  ctx: OpContext,
  standing: JoinStanding = ADMIT,
): OpResult<JoinResult> {
  const parentCap = assertMayJoin(data, input, ctx.nowMs);
  assertActionBudget(data, input);
  assertStanding(input.agentDid, standing);
  const { agentDid, sigmaRaw, parentDid } = input;
  const { ring, effScore, consensus, sandboxed, probation } = admit(data, input, standing, parentCap, ctx.nowMs);

  const limits = resolveRingRateLimits(data.config.rateLimits);
  // A rejoin keeps its bucket: leaving and rejoining must never mint a fresh burst.
  const previousBucket = data.buckets[agentDid];
  const bucket = previousBucket
    ? bucketForRing(previousBucket, ring, limits, ctx.nowMs)
    : newBucket(ring, limits, ctx.nowMs);
  const participant: Participant = {
    agentDid,
    status: 'active',
    ring,
    sigmaRaw,
    effScore,
    hasConsensus: consensus,
    parentDid: parentDid ?? null,
    joinedAtMs: ctx.nowMs,
    leftAtMs: null,
    actions: Object.fromEntries(input.actions.map((action) => [action.actionId, requiredRing(action)])),
    kill: null,
  };
  const approvals = { ...data.approvals };
  delete approvals[agentDid];
  const next: SessionData = {
    ...data,
    participants: { ...data.participants, [agentDid]: participant },
    approvals,
    buckets: { ...data.buckets, [agentDid]: bucket },
  };
  assertStateBudget(next, agentDid);
  return {
    data: next,
    result: { agentDid, ring, effScore, sandboxed, standing: probation ? 'probation' : 'admit' },
    events: [
      event(data.participants[agentDid] ? 'rejoin' : 'join', agentDid, {
        ring,
        effScore,
        sigmaRaw,
        consensus,
        sandboxed,
        standing: standing.recommendation,
        riskScore: standing.riskScore,
        parentDid: parentDid ?? null,
        actions: input.actions.map((a) => ({ actionId: a.actionId, requiredRing: requiredRing(a) })),
      }),
    ],
  };
}

/** An agent leaves: its locks and elevation are released; it may rejoin later (unless killed). */
export function leaveSession(
  data: SessionData,
  input: Parsed<typeof LeaveSessionInput>,
  ctx: OpContext,
): OpResult<{ agentDid: string }> {
  assertState(data, OPEN_STATES, 'leaving');
  const participant = requireActive(data, input.agentDid);
  const released = releaseHoldings(data, input.agentDid, ctx.nowMs, 'leave');
  return {
    data: {
      ...released.data,
      participants: {
        ...released.data.participants,
        [input.agentDid]: { ...participant, status: 'left', leftAtMs: ctx.nowMs },
      },
    },
    result: { agentDid: input.agentDid },
    events: [...released.events, event('leave', input.agentDid, {})],
  };
}

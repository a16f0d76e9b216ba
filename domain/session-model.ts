import { requiredRing } from './actions.js';
import type { Json } from './audit-chain.js';
import { genesisHead } from './audit-chain.js';
import { actionForSeverity, emptyBreachWindow, recordCall } from './breach-detector.js';
import {
  effectiveRing as elevatedRing,
  expiredElevations,
  grantElevation,
  isElevationActive,
  nextElevationExpiry,
  type Elevation,
  type ElevationRequest,
} from './elevation.js';
import { ErrorType, hvError } from './errors.js';
import { killSwitchTripped } from './kill-switch.js';
import { checkVouch, effScore as liabilityEffScore, fromMicro, toMicro, type Vouch } from './liability.js';
import {
  emptyLockTable,
  expireLocks,
  LOCK_LIMITS,
  locksOf,
  nextLockDeadline,
  releaseAgentLocks,
  releaseAllLocks,
  releaseLock,
  requestLock,
  type IntentLock,
} from './intent-locks.js';
import { childRingCap, leastPrivileged, ringFromEffScore, RING_LABELS, type Ring } from './rings.js';
import type { z } from 'zod';
import type {
  AcquireLockInput,
  ActivateSessionInput,
  ApproveJoinInput,
  AuthorizeInput,
  CreateSessionInput,
  Decision,
  DecisionReason,
  DeleteStateInput,
  JoinResult,
  JoinSessionInput,
  KillAgentInput,
  LeaveSessionInput,
  ListStateInput,
  Participant,
  ReadStateInput,
  ReleaseLockInput,
  RestoreInput,
  RevokeElevationInput,
  SessionCommitment,
  SessionData,
  SessionEvent,
  SessionState,
  SetPermissionsInput,
  SnapshotInput,
  TerminateSessionInput,
  WriteStateInput,
} from './session-types.js';
import {
  ADMIT,
  type JoinStanding,
  type Quarantine,
  type QuarantineInput,
  type ReleaseQuarantineInput,
  type VouchInput,
} from './session-types.js';
import { bucketForRing, newBucket, resolveRingRateLimits, takeTokens } from './token-bucket.js';
import {
  createSnapshot,
  deleteFile,
  emptyVfs,
  listFiles,
  normalizePath,
  readFile,
  restoreSnapshot,
  setAcl,
  vfsSummary,
  writeFile,
  type VfsEvent,
} from './vfs.js';

type Parsed<S extends z.ZodType> = z.output<S>;

/** Deterministic inputs every operation needs: workflow time and a workflow-seeded id source. */
export interface OpContext {
  nowMs: number;
  newId: () => string;
}

export interface OpResult<R> {
  data: SessionData;
  result: R;
  events: SessionEvent[];
}

/** Who the hypervisor itself acts as when it enforces a policy (breach kills, timeouts). */
export const HYPERVISOR_ACTOR = 'hypervisor';

/** How many applied kill ids are remembered for dedupe (carried through continue-as-new). */
export const MAX_REMEMBERED_KILL_IDS = 1000;
/**
 * Bound on actions registered across all participants: manifests are carried through continue-as-new with the rest of
 * the session state, which must stay well under Temporal's 2 MiB payload limit.
 */
export const MAX_SESSION_ACTIONS = 2000;
/** Bound on candidates with pending ring-1 approvals, so approvals cannot grow the state without limit. */
export const MAX_PENDING_APPROVALS = 100;

const event = (kind: string, agentDid: string | null, payload: Record<string, unknown>): SessionEvent => ({
  kind,
  agentDid,
  payload: payload as Json,
});

export function createSessionData(input: Parsed<typeof CreateSessionInput>, nowMs: number): SessionData {
  return {
    sessionId: input.sessionId,
    creatorDid: input.creatorDid,
    config: input.config,
    // The reference goes created → handshaking inside createSession; `created` is never observable there either.
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
  created: ['handshaking'],
  handshaking: ['active', 'terminating'],
  active: ['terminating'],
  terminating: ['archived'],
  archived: [],
};

function assertState(data: SessionData, allowed: SessionState[], operation: string): void {
  if (!allowed.includes(data.state)) {
    throw hvError(
      ErrorType.IllegalTransition,
      `${operation} is not allowed while the session is ${data.state} (allowed in: ${allowed.join(', ')})`,
      { state: data.state, allowed, operation },
    );
  }
}

function transition(data: SessionData, to: SessionState): SessionData {
  if (!TRANSITIONS[data.state].includes(to)) {
    throw hvError(ErrorType.IllegalTransition, `illegal session transition ${data.state} → ${to}`, {
      from: data.state,
      to,
    });
  }
  return { ...data, state: to };
}

export const activeParticipants = (data: SessionData): Participant[] =>
  Object.values(data.participants).filter((p) => p.status === 'active');

export function activeElevation(data: SessionData, agentDid: string, nowMs: number): Elevation | null {
  const elevation = data.elevations[agentDid];
  return elevation && isElevationActive(elevation, nowMs) ? elevation : null;
}

export function effectiveRingOf(data: SessionData, participant: Participant, nowMs: number): Ring {
  // Quarantine is read-only isolation: ring 3 whatever the agent earned or was elevated to.
  if (data.quarantines?.[participant.agentDid]) return 3;
  return elevatedRing(participant.ring, activeElevation(data, participant.agentDid, nowMs), nowMs);
}

function requireParticipant(data: SessionData, agentDid: string): Participant {
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
function requireActive(data: SessionData, agentDid: string): Participant {
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

const isOperator = (data: SessionData, did: string): boolean =>
  did === data.creatorDid || data.config.operators.includes(did);

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

export function approveJoin(
  data: SessionData,
  input: Parsed<typeof ApproveJoinInput>,
  ctx: OpContext,
): OpResult<{ approvals: string[] }> {
  assertState(data, ['handshaking', 'active'], 'approving a join');
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

export function joinSession(
  data: SessionData,
  input: Parsed<typeof JoinSessionInput>,
  ctx: OpContext,
  standing: JoinStanding = ADMIT,
): OpResult<JoinResult> {
  assertState(data, ['handshaking', 'active'], 'joining');
  const { agentDid, sigmaRaw, parentDid } = input;
  const existing = data.participants[agentDid];
  if (existing?.status === 'killed') {
    throw hvError(
      ErrorType.AgentKilled,
      `agent ${agentDid} was killed in session ${data.sessionId} and may not rejoin`,
      {
        agentDid,
        reason: existing.kill?.reason,
      },
    );
  }
  if (existing?.status === 'active') {
    throw hvError(ErrorType.AlreadyParticipant, `agent ${agentDid} is already in session ${data.sessionId}`, {
      agentDid,
    });
  }
  const active = activeParticipants(data).length;
  if (active >= data.config.maxParticipants) {
    throw hvError(ErrorType.SessionFull, `session ${data.sessionId} is at capacity (${data.config.maxParticipants})`, {
      maxParticipants: data.config.maxParticipants,
    });
  }
  let parentCap: Ring = 3;
  if (parentDid !== undefined) {
    if (parentDid === agentDid) {
      throw hvError(ErrorType.InvalidInput, `agent ${agentDid} cannot be its own parent`, { agentDid });
    }
    const parent = data.participants[parentDid];
    if (!parent || parent.status !== 'active') {
      throw hvError(
        ErrorType.NotParticipant,
        `parent ${parentDid} is not an active participant of session ${data.sessionId}`,
        {
          parentDid,
        },
      );
    }
    parentCap = childRingCap(effectiveRingOf(data, parent, ctx.nowMs));
  }

  const registered = Object.values(data.participants).reduce(
    (sum, p) => sum + (p.agentDid === agentDid ? 0 : Object.keys(p.actions).length),
    0,
  );
  if (registered + input.actions.length > MAX_SESSION_ACTIONS) {
    throw hvError(
      ErrorType.LimitExceeded,
      `session ${data.sessionId} already has ${registered} registered actions; ${input.actions.length} more would exceed ${MAX_SESSION_ACTIONS}`,
      { registered, requested: input.actions.length, limit: MAX_SESSION_ACTIONS },
    );
  }
  if (standing.killSwitch)
    throw killSwitchTripped(agentDid, { ...standing.killSwitch, atMs: standing.killSwitch.blockedAtMs });
  if (standing.recommendation === 'deny') {
    throw hvError(
      ErrorType.StandingDenied,
      `agent ${agentDid} is denied by its liability standing (risk ${standing.riskScore.toFixed(3)}${standing.blacklisted ? ', blacklisted' : ''})`,
      { agentDid, riskScore: standing.riskScore, blacklisted: standing.blacklisted },
    );
  }
  // σ_L: what the agent presents, never more than what the ledger says of it after slashes.
  const ownSigma = standing.sigma === null ? sigmaRaw : Math.min(sigmaRaw, standing.sigma);
  const effScore = fromMicro(
    liabilityEffScore(toMicro(ownSigma), data.vouches ?? [], agentDid, data.config.liability, ctx.nowMs),
  );
  const consensus = hasConsensus(data, agentDid, ctx.nowMs);
  const belowMinimum = effScore < data.config.minEffScore;
  if (belowMinimum && !data.config.allowSandboxJoins) {
    throw hvError(
      ErrorType.TrustTooLow,
      `eff-score ${effScore.toFixed(2)} is below the session minimum ${data.config.minEffScore.toFixed(2)} and this session does not admit sandboxed agents`,
      { agentDid, effScore, minEffScore: data.config.minEffScore },
    );
  }
  const probation = standing.recommendation === 'probation';
  const earned = belowMinimum || probation ? 3 : ringFromEffScore(effScore, consensus);
  const ring = parentDid !== undefined ? leastPrivileged(earned, parentCap) : earned;

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
    actions: Object.fromEntries(input.actions.map((action) => [action.actionId, action])),
    kill: null,
  };
  const approvals = { ...data.approvals };
  delete approvals[agentDid];
  return {
    data: {
      ...data,
      participants: { ...data.participants, [agentDid]: participant },
      approvals,
      buckets: { ...data.buckets, [agentDid]: bucket },
    },
    result: { agentDid, ring, effScore, sandboxed: belowMinimum, standing: probation ? 'probation' : 'admit' },
    events: [
      event(existing ? 'rejoin' : 'join', agentDid, {
        ring,
        effScore,
        sigmaRaw,
        consensus,
        sandboxed: belowMinimum,
        standing: standing.recommendation,
        riskScore: standing.riskScore,
        parentDid: parentDid ?? null,
        actions: input.actions.map((a) => ({ actionId: a.actionId, requiredRing: requiredRing(a) })),
      }),
    ],
  };
}

/** Drops an agent's elevation, if it has one, with the `elevation_revoked` event that says why. */
function dropElevation(
  data: SessionData,
  agentDid: string,
  why: string,
): { data: SessionData; events: SessionEvent[] } {
  const elevation = data.elevations[agentDid];
  if (!elevation) return { data, events: [] };
  const elevations = { ...data.elevations };
  delete elevations[agentDid];
  return {
    data: { ...data, elevations },
    events: [event('elevation_revoked', agentDid, { elevationId: elevation.elevationId, why })],
  };
}

/** Releases everything an agent holds (locks, elevation) as it leaves or is killed. */
function releaseHoldings(
  data: SessionData,
  agentDid: string,
  nowMs: number,
  why: string,
): { data: SessionData; events: SessionEvent[] } {
  const events: SessionEvent[] = [];
  const released = releaseAgentLocks(data.locks, agentDid, nowMs);
  for (const lock of released.released) events.push(event('lock_released', agentDid, { ...lockPayload(lock), why }));
  for (const lock of released.granted) events.push(event('lock_granted', lock.agentDid, lockPayload(lock)));
  const dropped = dropElevation({ ...data, locks: released.table }, agentDid, why);
  return { data: dropped.data, events: [...events, ...dropped.events] };
}

const lockPayload = (lock: IntentLock): Record<string, unknown> => ({
  lockId: lock.lockId,
  path: lock.path,
  intent: lock.intent,
  status: lock.status,
  expiresAtMs: lock.expiresAtMs,
});

export function leaveSession(
  data: SessionData,
  input: Parsed<typeof LeaveSessionInput>,
  ctx: OpContext,
): OpResult<{ agentDid: string }> {
  assertState(data, ['handshaking', 'active'], 'leaving');
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

export function activateSession(
  data: SessionData,
  input: Parsed<typeof ActivateSessionInput>,
): OpResult<{ state: SessionState }> {
  assertState(data, ['handshaking'], 'activating');
  if (activeParticipants(data).length === 0) {
    throw hvError(
      ErrorType.IllegalTransition,
      `session ${data.sessionId} cannot be activated without an active participant`,
      {
        state: data.state,
      },
    );
  }
  const next = transition(data, 'active');
  return {
    data: next,
    result: { state: next.state },
    events: [event('session_activated', input.authorizedBy ?? null, {})],
  };
}

export interface KillResult {
  killId: string;
  agentDid: string;
  reason: string;
  /** False when this kill id was already applied or the agent was already dead: kills are idempotent. */
  applied: boolean;
  releasedLocks: number;
  revokedElevation: boolean;
  /** The killed agent's in-flight saga steps: handed to the substitute, or failed (their saga compensates). */
  steps?: Array<{ sagaId: string; stepId: string; disposition: 'reassigned' | 'failed'; substituteDid: string | null }>;
}

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

function deny(
  reason: DecisionReason,
  requiredRing: Ring | null,
  effectiveRing: Ring,
  extra: Partial<Pick<Decision, 'retryAfterMs' | 'breach'>> = {},
): Decision {
  return { allowed: false, reason, requiredRing, effectiveRing, retryAfterMs: 0, breach: null, ...extra };
}

/**
 * The single enforcement point for agent actions. Order: participant status → breach detector (every attempt is
 * observed, including the ones the ring check will refuse — those are exactly what it must see) → breach policy
 * (HIGH demotes to ring 3, CRITICAL kills) → effective ring vs required ring → token bucket of the effective ring.
 * A policy denial is a decision, not an error: it is returned and recorded.
 */
export function authorizeAction(
  data: SessionData,
  input: Parsed<typeof AuthorizeInput>,
  ctx: OpContext,
): OpResult<Decision> {
  assertState(data, ['active'], 'authorizing actions');
  const participant = requireParticipant(data, input.agentDid);
  const action = participant.actions[input.actionId];
  const needed = action ? requiredRing(action) : null;
  let current = data;
  const events: SessionEvent[] = [];
  const finish = (decision: Decision): OpResult<Decision> => {
    const stats = decision.allowed
      ? { ...current.stats, allowed: current.stats.allowed + 1 }
      : { ...current.stats, denied: current.stats.denied + 1 };
    events.push(
      event('decision', input.agentDid, {
        actionId: input.actionId,
        cost: input.cost,
        ...decision,
      }),
    );
    return { data: { ...current, stats }, result: decision, events };
  };

  if (participant.status === 'killed') return finish(deny('agent_killed', needed, participant.ring));
  if (participant.status === 'left') return finish(deny('agent_left', needed, participant.ring));

  let ring = effectiveRingOf(current, participant, ctx.nowMs);
  const policy = current.config.breachPolicy;
  const observed = recordCall(
    current.breachWindows[input.agentDid] ?? emptyBreachWindow(),
    { nowMs: ctx.nowMs, agentRing: ring, requiredRing: needed ?? ring },
    policy,
  );
  current = { ...current, breachWindows: { ...current.breachWindows, [input.agentDid]: observed.window } };
  const action_ = actionForSeverity(observed.severity, policy);
  const breach =
    observed.severity === 'none' ? null : { severity: observed.severity, score: observed.score, action: action_ };
  if (breach) {
    current = { ...current, stats: { ...current.stats, breaches: current.stats.breaches + 1 } };
    events.push(
      event('breach', input.agentDid, {
        ...breach,
        weightedRate: observed.weightedRate,
        calls: observed.callsInWindow,
      }),
    );
  }
  if (action_ === 'kill') {
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
    current = killed.data;
    events.push(...killed.events);
    return finish(deny('ring_breach', needed, ring, { breach }));
  }
  if (action_ === 'demote' && participant.ring !== 3) {
    const demoted = demote(current, input.agentDid, 3, `breach ${observed.severity}`, ctx.nowMs);
    current = demoted.data;
    events.push(...demoted.events);
    ring = 3;
  }

  if (!action || needed === null) return finish(deny('unknown_action', null, ring, { breach }));
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

/** Lowers an agent's base ring and revokes any elevation; its bucket follows without a fresh burst. */
function demote(
  data: SessionData,
  agentDid: string,
  to: Ring,
  why: string,
  nowMs: number,
): { data: SessionData; events: SessionEvent[] } {
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

export function elevateAgent(data: SessionData, request: ElevationRequest, ctx: OpContext): OpResult<Elevation> {
  assertState(data, ['handshaking', 'active'], 'elevating');
  const participant = requireActive(data, request.agentDid);
  if (data.quarantines?.[request.agentDid])
    throw hvError(ErrorType.AgentQuarantined, `agent ${request.agentDid} is quarantined and cannot be elevated`, {
      agentDid: request.agentDid,
    });
  // The domain rules (target, witness, duplicate, trust, approval present) take precedence over approver authority.
  const elevation = grantElevation({
    request,
    elevationId: `elev:${ctx.newId()}`,
    baseRing: participant.ring,
    effScore: participant.effScore,
    active: activeElevation(data, request.agentDid, ctx.nowMs),
    nowMs: ctx.nowMs,
  });
  const approver = request.approvedBy;
  if (approver !== undefined && !isOperator(data, approver)) {
    const approving = data.participants[approver];
    if (
      !approving ||
      approving.status !== 'active' ||
      effectiveRingOf(data, approving, ctx.nowMs) > request.targetRing
    ) {
      throw hvError(
        ErrorType.ElevationDenied,
        `Ring elevation denied: ${RING_LABELS[participant.ring]} -> ${RING_LABELS[request.targetRing]}\n` +
          `  Reason: approver ${approver} is neither a session operator nor an active participant at ${RING_LABELS[request.targetRing]} or better`,
        { reason: 'approver_not_authorized', agentDid: request.agentDid, approvedBy: approver },
      );
    }
  }
  return {
    data: { ...data, elevations: { ...data.elevations, [request.agentDid]: elevation } },
    result: elevation,
    events: [
      event('elevation_granted', request.agentDid, {
        elevationId: elevation.elevationId,
        fromRing: elevation.fromRing,
        toRing: elevation.toRing,
        expiresAtMs: elevation.expiresAtMs,
        reason: elevation.reason,
        approvedBy: elevation.approvedBy,
        attestation: elevation.attestation,
      }),
    ],
  };
}

export function revokeElevation(
  data: SessionData,
  input: Parsed<typeof RevokeElevationInput>,
  ctx: OpContext,
): OpResult<{ revoked: Elevation | null }> {
  requireParticipant(data, input.agentDid);
  const elevation = activeElevation(data, input.agentDid, ctx.nowMs);
  if (!elevation) return { data, result: { revoked: null }, events: [] };
  const elevations = { ...data.elevations };
  delete elevations[input.agentDid];
  return {
    data: { ...data, elevations },
    result: { revoked: elevation },
    events: [
      event('elevation_revoked', input.agentDid, {
        elevationId: elevation.elevationId,
        why: input.reason,
        authorizedBy: input.authorizedBy ?? null,
      }),
    ],
  };
}

/** Agents in ring 3 (the sandbox) are read-only: they may read shared state but never change it. */
function requireWriter(data: SessionData, agentDid: string, nowMs: number): { participant: Participant; ring: Ring } {
  assertState(data, ['handshaking', 'active'], 'changing shared state');
  const participant = requireActive(data, agentDid);
  const ring = effectiveRingOf(data, participant, nowMs);
  if (ring > 2) {
    throw hvError(ErrorType.RingViolation, `agent ${agentDid} is in ${RING_LABELS[ring]}, which is read-only`, {
      agentDid,
      effectiveRing: ring,
      requiredRing: 2,
    });
  }
  return { participant, ring };
}

const vfsEvents = (events: VfsEvent[]): SessionEvent[] =>
  events.map(({ kind, agentDid, ...payload }) => event(kind, agentDid, payload));

export function writeSharedState(data: SessionData, input: Parsed<typeof WriteStateInput>, ctx: OpContext) {
  requireWriter(data, input.agentDid, ctx.nowMs);
  const out = writeFile(data.vfs, { ...input, mode: data.config.consistencyMode, nowMs: ctx.nowMs });
  return { data: { ...data, vfs: out.state }, result: out.result, events: vfsEvents(out.events) };
}

export function readSharedState(data: SessionData, input: Parsed<typeof ReadStateInput>) {
  requireActive(data, input.agentDid);
  const out = readFile(data.vfs, input);
  return { data: { ...data, vfs: out.state }, result: out.result, events: [] as SessionEvent[] };
}

export function deleteSharedState(data: SessionData, input: Parsed<typeof DeleteStateInput>, ctx: OpContext) {
  requireWriter(data, input.agentDid, ctx.nowMs);
  const out = deleteFile(data.vfs, { ...input, mode: data.config.consistencyMode, nowMs: ctx.nowMs });
  return { data: { ...data, vfs: out.state }, result: out.result, events: vfsEvents(out.events) };
}

export function listSharedState(data: SessionData, input: Parsed<typeof ListStateInput>) {
  requireActive(data, input.agentDid);
  return listFiles(data.vfs, input);
}

export function setStatePermissions(data: SessionData, input: Parsed<typeof SetPermissionsInput>, ctx: OpContext) {
  assertState(data, ['handshaking', 'active'], 'changing permissions');
  const participant = requireActive(data, input.agentDid);
  const out = setAcl(data.vfs, {
    ...input,
    actorRing: effectiveRingOf(data, participant, ctx.nowMs),
    nowMs: ctx.nowMs,
  });
  return {
    data: { ...data, vfs: out.state },
    result: { path: normalizePath(input.path), agents: input.agents },
    events: vfsEvents(out.events),
  };
}

export function snapshotSharedState(data: SessionData, input: Parsed<typeof SnapshotInput>, ctx: OpContext) {
  requireWriter(data, input.agentDid, ctx.nowMs);
  const snapshotId = input.snapshotId ?? `snap:${ctx.newId()}`;
  const out = createSnapshot(data.vfs, { agentDid: input.agentDid, snapshotId, nowMs: ctx.nowMs });
  return { data: { ...data, vfs: out.state }, result: { snapshotId }, events: vfsEvents(out.events) };
}

export function restoreSharedState(data: SessionData, input: Parsed<typeof RestoreInput>, ctx: OpContext) {
  requireWriter(data, input.agentDid, ctx.nowMs);
  const out = restoreSnapshot(data.vfs, { ...input, nowMs: ctx.nowMs });
  return {
    data: { ...data, vfs: out.state },
    result: { snapshotId: input.snapshotId, ...vfsSummary(out.state) },
    events: vfsEvents(out.events),
  };
}

export function acquireLock(
  data: SessionData,
  input: Parsed<typeof AcquireLockInput>,
  ctx: OpContext,
): OpResult<IntentLock> {
  assertState(data, ['handshaking', 'active'], 'locking');
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

export const sessionLocks = (data: SessionData, filter: { agentDid?: string; path?: string }): IntentLock[] =>
  locksOf(data.locks, filter.path !== undefined ? { ...filter, path: normalizePath(filter.path) } : filter);

/** Expires elevations and locks whose time has come. Called by the workflow whenever its timer fires. */
export function expireTimers(data: SessionData, nowMs: number): { data: SessionData; events: SessionEvent[] } {
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
  // Quarantines that ran out: released, or the agent is killed with quarantine_timeout, per their policy.
  for (const q of Object.values(data.quarantines ?? {})) {
    if (q.untilMs > nowMs) continue;
    const quarantines = { ...next.quarantines };
    delete quarantines[q.agentDid];
    next = { ...next, quarantines };
    events.push(
      event('quarantine_released', q.agentDid, {
        quarantineId: q.quarantineId,
        why: 'timeout',
        onTimeout: q.onTimeout,
      }),
    );
    if (q.onTimeout === 'kill' && next.participants[q.agentDid]?.status === 'active') {
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
      next = killed.data;
      events.push(...killed.events);
    }
  }
  return { data: next, events };
}

/**
 * Read-only isolation (reference §5.5, stubbed there): the agent stays in the session at ring 3 (no writes, no
 * elevation) until the duration ends, then is released or killed. The forensic data go into the audit chain.
 */
export function quarantineAgent(
  data: SessionData,
  input: Parsed<typeof QuarantineInput>,
  ctx: OpContext,
): OpResult<Quarantine> {
  assertState(data, ['handshaking', 'active'], 'quarantining');
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
      event('quarantine', input.agentDid, {
        ...quarantine,
        details: input.details,
        forensic: input.forensic,
      }),
    ],
  };
}

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

/** The earliest moment something in the session expires: the session deadline, an elevation or a lock. */
export function nextDeadline(data: SessionData): number {
  return Math.min(
    data.deadlineMs,
    nextElevationExpiry(data.elevations) ?? Infinity,
    nextLockDeadline(data.locks) ?? Infinity,
    ...Object.values(data.quarantines ?? {}).map((q) => q.untilMs),
  );
}

/**
 * Starts termination: releases every lock and elevation. The workflow records the events, then calls
 * {@link archiveSession} with the final chain head to produce the commitment.
 */
export function beginTermination(data: SessionData, input: Parsed<typeof TerminateSessionInput>, ctx: OpContext) {
  assertState(data, ['handshaking', 'active'], 'terminating');
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

/**
 * A session-scoped bond (reference §5.2): an active participant vouches for another agent (present or yet to join),
 * which raises that agent's eff-score at join by ω × bond. The voucher's σ is what it presented at its own join.
 */
export function vouchFor(data: SessionData, input: Parsed<typeof VouchInput>, ctx: OpContext): OpResult<Vouch> {
  assertState(data, ['handshaking', 'active'], 'vouching');
  const voucher = data.participants[input.voucherDid];
  if (!voucher || voucher.status !== 'active')
    throw hvError(ErrorType.NotParticipant, `voucher ${input.voucherDid} is not an active participant`, {
      agentDid: input.voucherDid,
    });
  if (data.participants[input.voucheeDid]?.status === 'killed')
    throw hvError(ErrorType.AgentKilled, `agent ${input.voucheeDid} was killed in this session`, {
      agentDid: input.voucheeDid,
    });
  const vouches = data.vouches ?? [];
  const voucherSigma = toMicro(voucher.sigmaRaw);
  const { bond } = checkVouch(
    vouches,
    { voucherDid: input.voucherDid, voucheeDid: input.voucheeDid, voucherSigma, bondPct: input.bondPct },
    data.config.liability,
    ctx.nowMs,
  );
  const vouch: Vouch = {
    vouchId: ctx.newId(),
    sessionId: data.sessionId,
    voucherDid: input.voucherDid,
    voucheeDid: input.voucheeDid,
    voucherSigma,
    bond,
    createdAtMs: ctx.nowMs,
    expiresAtMs: input.expiresInSeconds === undefined ? null : ctx.nowMs + input.expiresInSeconds * 1000,
    releasedAtMs: null,
  };
  return {
    data: { ...data, vouches: [...vouches, vouch] },
    result: vouch,
    events: [
      event('vouch', input.voucherDid, {
        vouchId: vouch.vouchId,
        voucheeDid: vouch.voucheeDid,
        bond: fromMicro(bond),
        voucherSigma: voucher.sigmaRaw,
        expiresAtMs: vouch.expiresAtMs,
      }),
    ],
  };
}

/** The session's registered substitute for a killed agent (see `SessionConfig.substitutes`), if one qualifies. */
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

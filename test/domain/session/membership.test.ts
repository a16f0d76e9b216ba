import { describe, expect, it } from 'vitest';
import { ActionDescriptor, type ActionDescriptorInput } from '../../../domain/actions.js';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import {
  MAX_PENDING_APPROVALS,
  MAX_SESSION_ACTIONS,
  actionRing,
  approveJoin,
  authorizeAction,
  beginTermination,
  hasConsensus,
  joinSession,
  leaveSession,
} from '../../../domain/session/index.js';
import {
  ADMIT,
  JoinSessionInput,
  type JoinSessionInput as JoinRaw,
  type JoinStanding,
  type SessionData,
} from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import {
  CREATOR,
  NOW,
  actions,
  active,
  allActions,
  ctx,
  did,
  elevated,
  joined,
  killed,
  left,
  locked,
  newSession,
  parse,
  participant,
  ringOne,
} from '../../helpers/session-data.js';

const [A, B, C, LEAD] = [did('a'), did('b'), did('c'), did('lead')];
const join = (data: SessionData, input: JoinRaw, standing: JoinStanding = ADMIT, nowMs = NOW) =>
  joinSession(deepFreeze(data), parse(JoinSessionInput, input), ctx(nowMs), standing);
const approve = (data: SessionData, candidateDid: string, approverDid: string) =>
  approveJoin(deepFreeze(data), { candidateDid, approverDid }, ctx());
const ringOf = (data: SessionData, agentDid: string, sigmaRaw: number) =>
  join(data, { agentDid, sigmaRaw }).result.ring;

describe('registered actions', () => {
  it('are read in the current form and in the whole-descriptor form of state carried from before', () => {
    const data = active(joined(newSession(), A, 0.9, [actions.read]));
    const carried = {
      ...data,
      participants: {
        ...data.participants,
        [A]: { ...participant(data, A), actions: { 'edit-doc': parse(ActionDescriptor, actions.edit) } },
      },
    } as unknown as SessionData;
    expect(actionRing(participant(data, A), 'read-docs')).toBe(3);
    expect(actionRing(participant(carried, A), 'edit-doc')).toBe(2);
    expect(authorizeAction(carried, { agentDid: A, actionId: 'edit-doc', cost: 1 }, ctx()).result.allowed).toBe(true);
    // Only the manifest's own keys count: nothing inherited is an action.
    for (const id of ['constructor', 'toString', '__proto__', 'read'])
      expect(actionRing(participant(data, A), id)).toBeNull();
  });
});

describe('join: ring from eff-score', () => {
  it('uses the strict thresholds of domain/rings.ts; ring 1 needs consensus', () => {
    const data = newSession({ minEffScore: 0 });
    expect([0.6, 0.601, 0.85, 0.95, 0.96].map((s) => ringOf(data, A, s))).toEqual([3, 2, 2, 2, 2]);
  });

  it('records the participant, a full bucket of its ring and the join event', () => {
    const out = join(newSession(), { agentDid: A, sigmaRaw: 0.85, actions: [actions.read, actions.deploy] });
    expect(out.result).toEqual({ agentDid: A, ring: 2, effScore: 0.85, sandboxed: false, standing: 'admit' });
    expect(participant(out.data, A)).toMatchObject({
      status: 'active',
      ring: 2,
      sigmaRaw: 0.85,
      effScore: 0.85,
      hasConsensus: false,
      parentDid: null,
      joinedAtMs: NOW,
      leftAtMs: null,
      kill: null,
    });
    // The session keeps the ring each action requires, not the descriptor (small enough for 2,000 actions).
    expect(participant(out.data, A).actions).toEqual({ 'read-docs': 3, deploy: 1 });
    expect(out.data.buckets[A]).toEqual({ tokens: 40, updatedAtMs: NOW, ring: 2 });
    expect(out.events).toEqual([
      {
        kind: 'join',
        agentDid: A,
        payload: {
          ring: 2,
          effScore: 0.85,
          sigmaRaw: 0.85,
          consensus: false,
          sandboxed: false,
          standing: 'admit',
          riskScore: 0,
          parentDid: null,
          actions: [
            { actionId: 'read-docs', requiredRing: 3 },
            { actionId: 'deploy', requiredRing: 1 },
          ],
        },
      },
    ]);
  });
});

describe('ring-1 consensus', () => {
  it('takes an operator approval while there is no ring ≤ 1 electorate, then a strict majority of it', () => {
    const base = newSession({ operators: [did('op')] });
    const stranger = failureOf(() => approve(base, LEAD, did('rando')));
    expect(stranger.type).toBe(ErrorType.PermissionDenied);
    expect(stranger.message).toMatch(/only an operator/);
    expect(join(approve(base, LEAD, did('op')).data, { agentDid: LEAD, sigmaRaw: 0.97 }).result.ring).toBe(1);

    const approval = approve(base, LEAD, CREATOR);
    expect(approval.result).toEqual({ approvals: [CREATOR] });
    expect(approval.events).toEqual([{ kind: 'join_approved', agentDid: CREATOR, payload: { candidateDid: LEAD } }]);
    const lead = join(approval.data, { agentDid: LEAD, sigmaRaw: 0.97 });
    expect(lead.result.ring).toBe(1);
    expect(participant(lead.data, LEAD).hasConsensus).toBe(true);
    expect(lead.data.approvals).toEqual({});

    // With an electorate of one ring-1 agent, the creator no longer decides.
    const creatorNow = failureOf(() => approve(lead.data, A, CREATOR));
    expect(creatorNow.type).toBe(ErrorType.PermissionDenied);
    expect(hvErrorDetails(creatorNow)).toEqual({ approverDid: CREATOR, candidateDid: A });
    const two = ringOne(lead.data, A, [LEAD]);
    expect(participant(two, A).ring).toBe(1);
    // Two ring-1 agents: one vote of two is not a strict majority, both are.
    const oneVote = approve(two, B, LEAD).data;
    expect(hasConsensus(oneVote, B, NOW)).toBe(false);
    expect(join(oneVote, { agentDid: B, sigmaRaw: 0.99 }).result.ring).toBe(2);
    expect(join(approve(oneVote, B, A).data, { agentDid: B, sigmaRaw: 0.99 }).result.ring).toBe(1);
  });

  it('still needs the score: consensus below 0.95 earns ring 2', () => {
    const out = join(approve(newSession(), A, CREATOR).data, { agentDid: A, sigmaRaw: 0.9 });
    expect(out.result.ring).toBe(2);
    expect(out.events[0]!.payload).toMatchObject({ consensus: true, ring: 2 });
  });

  it('refuses self-approval, keeps approvals unique and sorted, and bounds pending candidates', () => {
    expect(failureOf(() => approve(newSession(), CREATOR, CREATOR)).type).toBe(ErrorType.PermissionDenied);
    let data = ringOne(ringOne(newSession(), B), A, [B]);
    data = approve(approve(data, C, B).data, C, A).data;
    expect(approve(data, C, B).result.approvals).toEqual([A, B]);

    let full = newSession();
    for (let i = 0; i < MAX_PENDING_APPROVALS; i++) full = approve(full, did(`cand-${i}`), CREATOR).data;
    const over = failureOf(() => approve(full, did('one-too-many'), CREATOR));
    expect(over.type).toBe(ErrorType.LimitExceeded);
    expect(approve(full, did('cand-0'), CREATOR).result.approvals).toEqual([CREATOR]);
  });
});

describe('join: admission rules', () => {
  it('sandboxes below minEffScore, or refuses when allowSandboxJoins is false', () => {
    expect(join(newSession({ minEffScore: 0.9 }), { agentDid: A, sigmaRaw: 0.8 }).result).toMatchObject({
      ring: 3,
      sandboxed: true,
    });
    const strict = newSession({ minEffScore: 0.9, allowSandboxJoins: false });
    const refused = failureOf(() => join(strict, { agentDid: A, sigmaRaw: 0.8 }));
    expect(refused.type).toBe(ErrorType.TrustTooLow);
    expect(refused.message).toMatch(/eff-score 0.80 is below the session minimum 0.90/);
    expect(hvErrorDetails(refused)).toEqual({ agentDid: A, effScore: 0.8, minEffScore: 0.9 });
  });

  it('caps a child at its parent’s ring + 1 and checks the parent', () => {
    const data = ringOne(newSession(), LEAD);
    const child = join(data, { agentDid: A, sigmaRaw: 0.99, parentDid: LEAD });
    expect(child.result.ring).toBe(2);
    expect(child.events[0]!.payload).toMatchObject({ parentDid: LEAD });
    expect(join(child.data, { agentDid: B, sigmaRaw: 0.99, parentDid: A }).result.ring).toBe(3);
    expect(join(data, { agentDid: A, sigmaRaw: 0.3, parentDid: LEAD }).result.ring).toBe(3);
    expect(failureOf(() => join(data, { agentDid: A, parentDid: A })).type).toBe(ErrorType.InvalidInput);
    expect(failureOf(() => join(data, { agentDid: A, parentDid: did('ghost') })).type).toBe(ErrorType.NotParticipant);
    expect(failureOf(() => join(left(data, LEAD), { agentDid: A, parentDid: LEAD })).type).toBe(
      ErrorType.NotParticipant,
    );
  });

  it('refuses duplicates, killed agents and a full session; a departure frees a seat', () => {
    const data = joined(joined(newSession({ maxParticipants: 2 }), A, 0.8), B, 0.8);
    expect(failureOf(() => join(data, { agentDid: A, sigmaRaw: 0.8 })).type).toBe(ErrorType.AlreadyParticipant);
    const full = failureOf(() => join(data, { agentDid: C, sigmaRaw: 0.8 }));
    expect(full.type).toBe(ErrorType.SessionFull);
    expect(hvErrorDetails(full)).toEqual({ maxParticipants: 2 });
    expect(join(left(data, B), { agentDid: C, sigmaRaw: 0.8 }).result.ring).toBe(2);
    const dead = failureOf(() => join(killed(data, B), { agentDid: B, sigmaRaw: 0.8 }));
    expect(dead.type).toBe(ErrorType.AgentKilled);
    expect(dead.message).toMatch(/may not rejoin/);
    expect(hvErrorDetails(dead)).toEqual({ agentDid: B, reason: 'manual' });
    const closing = beginTermination(data, { reason: 'x' }, ctx()).data;
    expect(failureOf(() => join(closing, { agentDid: C })).type).toBe(ErrorType.IllegalTransition);
  });

  it('lets a departed agent rejoin with its own bucket, never a fresh burst', () => {
    const spent = authorizeAction(
      active(joined(newSession(), A, 0.8, allActions)),
      { agentDid: A, actionId: 'edit-doc', cost: 35 },
      ctx(),
    );
    const back = join(left(spent.data, A), { agentDid: A, sigmaRaw: 0.8 });
    expect(back.events[0]!.kind).toBe('rejoin');
    expect(back.data.buckets[A]).toEqual({ tokens: 5, updatedAtMs: NOW, ring: 2 });
    expect(participant(back.data, A)).toMatchObject({ status: 'active', leftAtMs: null, actions: {} });
  });

  it('bounds the actions registered across the session (a rejoin replaces its own manifest)', () => {
    const manifest = (agent: number): ActionDescriptorInput[] =>
      Array.from({ length: 200 }, (_, i) => ({ actionId: `act-${agent}-${i}`, name: 'act', reversibility: 'full' }));
    let data = newSession({ maxParticipants: 20 });
    for (let i = 0; i < MAX_SESSION_ACTIONS / 200; i++) data = joined(data, did(`agent-${i}`), 0.8, manifest(i));
    const over = failureOf(() => join(data, { agentDid: A, actions: [actions.read] }));
    expect(over.type).toBe(ErrorType.LimitExceeded);
    expect(hvErrorDetails(over)).toEqual({ registered: 2000, requested: 1, limit: 2000 });
    const rejoin = join(left(data, did('agent-0')), { agentDid: did('agent-0'), sigmaRaw: 0.8, actions: manifest(9) });
    expect(rejoin.result.ring).toBe(2);
  });
});

describe('join: standing outside the session', () => {
  const standing = (extra: Partial<JoinStanding>): JoinStanding => ({ ...ADMIT, ...extra });

  it('caps probation at ring 3 and never scores above the ledger’s σ', () => {
    const probation = join(
      newSession(),
      { agentDid: A, sigmaRaw: 0.9 },
      standing({ recommendation: 'probation', riskScore: 0.4 }),
    );
    expect(probation.result).toEqual({ agentDid: A, ring: 3, effScore: 0.9, sandboxed: false, standing: 'probation' });
    expect(probation.events[0]!.payload).toMatchObject({ standing: 'probation', riskScore: 0.4 });
    const slashed = join(newSession(), { agentDid: A, sigmaRaw: 0.9 }, standing({ sigma: 0.5 }));
    expect(slashed.result).toMatchObject({ ring: 3, effScore: 0.5, sandboxed: true });
  });

  it('refuses a deny verdict and a tripped kill switch (which wins)', () => {
    const deny = standing({ recommendation: 'deny', riskScore: 0.7, blacklisted: true });
    const denied = failureOf(() => join(newSession(), { agentDid: A, sigmaRaw: 0.9 }, deny));
    expect(denied.type).toBe(ErrorType.StandingDenied);
    expect(denied.message).toMatch(/risk 0\.700, blacklisted/);
    expect(hvErrorDetails(denied)).toEqual({ agentDid: A, riskScore: 0.7, blacklisted: true });
    const killSwitch = { atMs: 500, reason: 'kill_switch_triggered', trigger: 'deny_rate' as const };
    const tripped = failureOf(() => join(newSession(), { agentDid: A }, { ...deny, killSwitch }));
    expect(tripped.type).toBe(ErrorType.KillSwitchTripped);
    expect(hvErrorDetails(tripped)).toEqual({
      agentId: A,
      blockedAtMs: 500,
      reason: 'kill_switch_triggered',
      trigger: 'deny_rate',
    });
  });
});

describe('leaveSession', () => {
  it('releases locks (handing them on) and the elevation, then marks the agent left', () => {
    let data = joined(joined(newSession(), A, 0.9), B, 0.8);
    data = locked(locked(data, { agentDid: A, path: '/x', intent: 'exclusive' }), {
      agentDid: B,
      path: '/x',
      intent: 'read',
    });
    data = elevated(data, { agentDid: A, targetRing: 1, reason: 'fix', approvedBy: CREATOR });
    const out = leaveSession(deepFreeze(data), { agentDid: A }, ctx(NOW + 10));
    expect(out.result).toEqual({ agentDid: A });
    expect(out.events.map((e) => [e.kind, e.agentDid, (e.payload as { why?: string }).why])).toEqual([
      ['lock_released', A, 'leave'],
      ['lock_granted', B, undefined],
      ['elevation_revoked', A, 'leave'],
      ['leave', A, undefined],
    ]);
    expect(participant(out.data, A)).toMatchObject({ status: 'left', leftAtMs: NOW + 10 });
    expect(out.data.elevations).toEqual({});
    expect(Object.values(out.data.locks.locks)).toMatchObject([{ agentDid: B, status: 'granted' }]);
  });

  it('refuses agents that are not active', () => {
    const data = joined(joined(newSession(), A, 0.8), B, 0.8);
    const leave = (d: SessionData, agentDid: string) => () => leaveSession(deepFreeze(d), { agentDid }, ctx());
    expect(failureOf(leave(data, C)).type).toBe(ErrorType.NotParticipant);
    expect(failureOf(leave(left(data, A), A)).type).toBe(ErrorType.NotParticipant);
    expect(failureOf(leave(killed(data, B), B)).type).toBe(ErrorType.AgentKilled);
  });
});

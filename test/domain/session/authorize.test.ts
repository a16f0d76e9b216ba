import { describe, expect, it } from 'vitest';
import { ErrorType } from '../../../domain/errors.js';
import { authorizeAction, HYPERVISOR_ACTOR, type OpContext } from '../../../domain/session/index.js';
import type { SessionConfigInput } from '../../../domain/session-config.js';
import {
  AuthorizeInput,
  type AuthorizeInput as AuthorizeRaw,
  type Decision,
  type SessionData,
} from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import {
  CREATOR,
  NOW,
  activeWith,
  allActions,
  ctx,
  did,
  elevated,
  joined,
  killed,
  kinds,
  left,
  newSession,
  parse,
  participant,
  quarantined,
} from '../../helpers/session-data.js';

const [A, B] = [did('a'), did('b')];
/** A baseline this high keeps the breach detector quiet. */
const CALM: SessionConfigInput = { breachPolicy: { baselineRate: 1000 } };
const authorize = (data: SessionData, input: AuthorizeRaw, c: OpContext = ctx()) =>
  authorizeAction(deepFreeze(data), parse(AuthorizeInput, input), c);
const decide = (data: SessionData, actionId: string, cost = 1) =>
  authorize(data, { agentDid: A, actionId, cost }).result;

describe('authorizeAction: the decision', () => {
  it('is taken only in an active session, for a participant', () => {
    const handshaking = joined(newSession(CALM), A, 0.8, allActions);
    expect(failureOf(() => decide(handshaking, 'read-docs')).type).toBe(ErrorType.IllegalTransition);
    expect(failureOf(() => authorize(activeWith(CALM, A), { agentDid: B, actionId: 'x' })).type).toBe(
      ErrorType.NotParticipant,
    );
  });

  it('compares the effective ring with the required ring, and records one decision event each', () => {
    const data = activeWith(CALM, A);
    expect(decide(data, 'read-docs')).toEqual({
      allowed: true,
      reason: 'allowed',
      requiredRing: 3,
      effectiveRing: 2,
      retryAfterMs: 0,
      breach: null,
    });
    expect(decide(data, 'edit-doc')).toMatchObject({ allowed: true, requiredRing: 2 });
    expect(decide(data, 'deploy')).toMatchObject({ allowed: false, reason: 'ring_violation', requiredRing: 1 });
    expect(decide(data, 'rotate-keys')).toMatchObject({ allowed: false, reason: 'ring_violation', requiredRing: 0 });
    expect(decide(data, 'never-declared')).toEqual({
      allowed: false,
      reason: 'unknown_action',
      requiredRing: null,
      effectiveRing: 2,
      retryAfterMs: 0,
      breach: null,
    });
    const out = authorize(data, { agentDid: A, actionId: 'deploy', cost: 2 });
    expect(out.events).toEqual([
      { kind: 'decision', agentDid: A, payload: { actionId: 'deploy', cost: 2, ...out.result } },
    ]);
  });

  it('counts allowed and denied decisions in the stats', () => {
    let data = activeWith(CALM, A);
    for (const actionId of ['read-docs', 'edit-doc', 'deploy', 'rotate-keys', 'nope'])
      data = authorize(data, { agentDid: A, actionId }).data;
    expect(data.stats).toEqual({ allowed: 2, denied: 3, breaches: 0 });
  });

  it('answers killed and departed agents with a decision, before the detector sees the call', () => {
    const data = activeWith(CALM, A, B);
    const dead = authorize(killed(data, A), { agentDid: A, actionId: 'edit-doc' });
    expect(dead.result).toEqual({
      allowed: false,
      reason: 'agent_killed',
      requiredRing: 2,
      effectiveRing: 2,
      retryAfterMs: 0,
      breach: null,
    });
    expect(dead.data.breachWindows[A]).toBeUndefined();
    expect(dead.data.stats.denied).toBe(1);
    expect(authorize(left(data, B), { agentDid: B, actionId: 'nope' }).result).toMatchObject({
      reason: 'agent_left',
      requiredRing: null,
    });
  });

  it('uses elevation and quarantine through the effective ring', () => {
    const data = activeWith(CALM, A);
    const up = elevated(data, { agentDid: A, targetRing: 1, reason: 'fix', approvedBy: CREATOR });
    expect(decide(up, 'deploy')).toMatchObject({ allowed: true, effectiveRing: 1 });
    expect(decide(quarantined(data, A), 'edit-doc')).toMatchObject({
      allowed: false,
      reason: 'ring_violation',
      effectiveRing: 3,
    });
  });
});

describe('authorizeAction: rate limits', () => {
  const limited = () => activeWith({ ...CALM, rateLimits: { '2': { ratePerSecond: 1, burst: 2 } } }, A);

  it('spends tokens of the effective ring and says when to retry', () => {
    const spent = authorize(limited(), { agentDid: A, actionId: 'edit-doc', cost: 2 });
    expect(spent.result.allowed).toBe(true);
    expect(spent.data.buckets[A]).toEqual({ tokens: 0, updatedAtMs: NOW, ring: 2 });
    expect(decide(spent.data, 'edit-doc')).toEqual({
      allowed: false,
      reason: 'rate_limited',
      requiredRing: 2,
      effectiveRing: 2,
      retryAfterMs: 1000,
      breach: null,
    });
    expect(authorize(spent.data, { agentDid: A, actionId: 'edit-doc' }, ctx(NOW + 400)).result.retryAfterMs).toBe(600);
    expect(authorize(spent.data, { agentDid: A, actionId: 'edit-doc' }, ctx(NOW + 1000)).result.allowed).toBe(true);
    expect(decide(limited(), 'edit-doc', 3).retryAfterMs).toBe(-1);
  });

  it('spends nothing on a ring violation', () => {
    const data = limited();
    expect(authorize(data, { agentDid: A, actionId: 'deploy', cost: 2 }).data.buckets[A]).toEqual(data.buckets[A]);
  });
});

describe('authorizeAction: breaches', () => {
  // baseline 0.5/s and simultaneous calls (1 s span floor): each upward call of weight w adds 2w to the score.
  const climbing = (policy: SessionConfigInput['breachPolicy'] = {}) =>
    activeWith({ breachPolicy: { baselineRate: 0.5, ...policy } }, A);
  function climb(
    data: SessionData,
    calls: number,
    actionId = 'deploy',
  ): { data: SessionData; seen: Array<{ decision: Decision; kinds: string[] }> } {
    const c = ctx();
    const seen = [];
    for (let i = 0; i < calls; i++) {
      const out = authorize(data, { agentDid: A, actionId }, c);
      data = out.data;
      seen.push({ decision: out.result, kinds: kinds(out.events) });
    }
    return { data, seen };
  }

  it('scores every attempt and records a breach event from LOW up', () => {
    const { data, seen } = climb(climbing(), 2);
    expect(seen[0]).toEqual({
      decision: expect.objectContaining({
        reason: 'ring_violation',
        breach: { severity: 'low', score: 4, action: 'none' },
      }) as Decision,
      kinds: ['breach', 'decision'],
    });
    expect(seen[1]!.decision.breach).toEqual({ severity: 'medium', score: 8, action: 'none' });
    const out = authorize(data, { agentDid: A, actionId: 'deploy' });
    expect(out.events[0]).toEqual({
      kind: 'breach',
      agentDid: A,
      payload: { severity: 'high', score: 12, action: 'demote', weightedRate: 6, calls: 3 },
    });
    expect(out.data.stats).toEqual({ allowed: 0, denied: 3, breaches: 3 });
  });

  it('demotes to ring 3 on HIGH (revoking the elevation), then kills with ring_breach on CRITICAL', () => {
    const start = elevated(climbing(), { agentDid: A, targetRing: 1, reason: 'fix', approvedBy: CREATOR });
    // From ring 1 a ring-0 action weighs 2 (4, 8, 12 → high); from ring 3 it weighs 4 (12 + 8 = 20 → critical).
    const { data, seen } = climb(start, 5, 'rotate-keys');
    expect(seen.map((s) => s.decision.breach?.severity ?? null)).toEqual(['low', 'medium', 'high', 'critical', null]);
    expect(seen[2]!.kinds).toEqual(['breach', 'elevation_revoked', 'ring_changed', 'decision']);
    expect(seen[2]!.decision).toMatchObject({ reason: 'ring_violation', effectiveRing: 3 });
    expect(seen[3]!.kinds).toEqual(['breach', 'kill', 'decision']);
    expect(seen[3]!.decision).toMatchObject({ allowed: false, reason: 'ring_breach', effectiveRing: 3 });
    expect(seen[4]!.decision.reason).toBe('agent_killed');
    expect(data.elevations).toEqual({});
    expect(participant(data, A)).toMatchObject({
      status: 'killed',
      ring: 3,
      kill: { killId: 'breach:id-1', reason: 'ring_breach', authorizedBy: HYPERVISOR_ACTOR, atMs: NOW },
    });
    expect(data.killIds).toEqual(['breach:id-1']);
    expect(data.buckets[A]!.ring).toBe(3);
  });

  it('records the ring change and the kill with their payloads', () => {
    const c = ctx();
    let data = climbing();
    const events = [];
    for (let i = 0; i < 5; i++) {
      const out = authorize(data, { agentDid: A, actionId: 'deploy' }, c);
      data = out.data;
      events.push(...out.events);
    }
    // The fourth call is HIGH again, but the agent is already in ring 3: no second ring change.
    expect(events.filter((e) => e.kind === 'ring_changed')).toHaveLength(1);
    expect(events.find((e) => e.kind === 'ring_changed')).toEqual({
      kind: 'ring_changed',
      agentDid: A,
      payload: { from: 2, to: 3, why: 'breach high' },
    });
    // Calls 4 and 5 weigh 3 each from ring 3: (3 × 2 + 2 × 3) / 0.5 = 24.
    expect(events.find((e) => e.kind === 'kill')).toEqual({
      kind: 'kill',
      agentDid: A,
      payload: {
        killId: 'breach:id-1',
        reason: 'ring_breach',
        authorizedBy: HYPERVISOR_ACTOR,
        details: 'breach critical, score 24.00',
        substituteDid: null,
      },
    });
  });

  it('follows the policy: onHigh none only records, onCritical demote does not kill', () => {
    const quiet = climb(climbing({ onHigh: 'none', onCritical: 'demote' }), 5);
    expect(quiet.seen[2]!.decision.breach).toEqual({ severity: 'high', score: 12, action: 'none' });
    expect(participant(quiet.data, A).ring).toBe(3);
    expect(quiet.seen[4]!.kinds).toEqual(['breach', 'ring_changed', 'decision']);
    expect(participant(quiet.data, A).status).toBe('active');
  });
});

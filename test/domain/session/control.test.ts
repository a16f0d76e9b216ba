import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import {
  MAX_REMEMBERED_KILL_IDS,
  beginTermination,
  effectiveRingOf,
  joinSession,
  killAgent,
  quarantineAgent,
  registeredSubstitute,
  releaseQuarantine,
} from '../../../domain/session/index.js';
import type { SessionConfigInput } from '../../../domain/session-config.js';
import {
  JoinSessionInput,
  KillAgentInput,
  QuarantineInput,
  ReleaseQuarantineInput,
  type KillAgentInput as KillRaw,
  type QuarantineInput as QuarantineRaw,
  type SessionData,
} from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import {
  CREATOR,
  NOW,
  ctx,
  did,
  elevated,
  joined,
  killed,
  kinds,
  left,
  locked,
  newSession,
  parse,
  participant,
  quarantined,
  ringOne,
} from '../../helpers/session-data.js';

const [A, B, C] = [did('a'), did('b'), did('c')];
const two = (config: SessionConfigInput = {}) => joined(joined(newSession(config), A, 0.9), B, 0.9);
const kill = (data: SessionData, input: Partial<KillRaw> = {}, nowMs = NOW + 10) =>
  killAgent(
    deepFreeze(data),
    parse(KillAgentInput, { killId: 'k1', agentDid: A, reason: 'manual', authorizedBy: CREATOR, ...input }),
    ctx(nowMs),
  );
const quarantine = (data: SessionData, input: Partial<QuarantineRaw> = {}) =>
  quarantineAgent(
    deepFreeze(data),
    parse(QuarantineInput, { agentDid: A, reason: 'behavioral_drift', authorizedBy: CREATOR, ...input }),
    ctx(),
  );

describe('killAgent', () => {
  it('kills the agent, releases its locks and elevation, and counts them in the result', () => {
    let data = locked(locked(two(), { agentDid: A, path: '/x', intent: 'write' }), {
      agentDid: B,
      path: '/x',
      intent: 'write',
    });
    data = elevated(data, { agentDid: A, targetRing: 1, reason: 'fix', approvedBy: CREATOR });
    const out = kill(data, { details: 'runaway', substituteDid: B });
    expect(out.result).toEqual({
      killId: 'k1',
      agentDid: A,
      reason: 'manual',
      applied: true,
      releasedLocks: 1,
      revokedElevation: true,
    });
    expect(kinds(out.events)).toEqual(['lock_released', 'lock_granted', 'elevation_revoked', 'kill']);
    expect(out.events[0]!.payload).toMatchObject({ lockId: 'lock:1', why: 'kill' });
    expect(out.events[1]).toMatchObject({ agentDid: B, payload: { lockId: 'lock:2', status: 'granted' } });
    expect(out.events[2]!.payload).toMatchObject({ why: 'kill' });
    expect(out.events[3]).toEqual({
      kind: 'kill',
      agentDid: A,
      payload: { killId: 'k1', reason: 'manual', authorizedBy: CREATOR, details: 'runaway', substituteDid: B },
    });
    expect(participant(out.data, A)).toMatchObject({
      status: 'killed',
      leftAtMs: NOW + 10,
      kill: { killId: 'k1', reason: 'manual', authorizedBy: CREATOR, atMs: NOW + 10 },
    });
    expect(out.data.killIds).toEqual(['k1']);
    expect(out.data.elevations).toEqual({});
  });

  it('is idempotent by kill id and by status', () => {
    const once = kill(two()).data;
    const noop = {
      killId: 'k1',
      agentDid: A,
      reason: 'manual',
      applied: false,
      releasedLocks: 0,
      revokedElevation: false,
    };
    expect(kill(once)).toEqual({ data: once, result: noop, events: [] });
    // Another kill id for a dead agent: still a no-op, answering with the reason it died for.
    expect(kill(once, { killId: 'k2', reason: 'ring_breach' })).toEqual({
      data: once,
      result: { ...noop, killId: 'k2' },
      events: [],
    });
    // A kill id already applied is never applied again, whoever it names.
    expect(kill(once, { agentDid: B }).result).toMatchObject({ agentDid: B, applied: false, reason: 'manual' });
    expect(participant(once, B).status).toBe('active');
  });

  it('kills a departed agent too, keeping when it left, so it cannot rejoin', () => {
    const out = kill(left(two(), A, NOW + 1), {}, NOW + 5);
    expect(participant(out.data, A)).toMatchObject({ status: 'killed', leftAtMs: NOW + 1 });
    expect(out.result).toMatchObject({ applied: true, releasedLocks: 0, revokedElevation: false });
    const rejoin = parse(JoinSessionInput, { agentDid: A, sigmaRaw: 0.9 });
    expect(failureOf(() => joinSession(out.data, rejoin, ctx())).type).toBe(ErrorType.AgentKilled);
    expect(failureOf(() => kill(two(), { agentDid: did('ghost') })).type).toBe(ErrorType.NotParticipant);
  });

  it('remembers at most MAX_REMEMBERED_KILL_IDS kill ids, dropping the oldest', () => {
    const remembered = Array.from({ length: MAX_REMEMBERED_KILL_IDS }, (_, i) => `old-${i}`);
    const out = kill({ ...two(), killIds: remembered }, { killId: 'newest' });
    expect(out.data.killIds).toHaveLength(MAX_REMEMBERED_KILL_IDS);
    expect(out.data.killIds[0]).toBe('old-1');
    expect(out.data.killIds.at(-1)).toBe('newest');
  });
});

describe('quarantineAgent', () => {
  it('isolates at ring 3, drops the elevation and keeps the forensic data in its event', () => {
    const data = elevated(two(), { agentDid: A, targetRing: 1, reason: 'fix', approvedBy: CREATOR });
    const out = quarantine(data, { durationSeconds: 60, details: 'drift', forensic: { toolCalls: 17 } });
    const q = {
      quarantineId: 'id-1',
      agentDid: A,
      reason: 'behavioral_drift',
      authorizedBy: CREATOR,
      startedAtMs: NOW,
      untilMs: NOW + 60_000,
      onTimeout: 'release',
    };
    expect(out.result).toEqual(q);
    expect(out.data.quarantines).toEqual({ [A]: q });
    expect(out.events).toEqual([
      { kind: 'elevation_revoked', agentDid: A, payload: { elevationId: 'elev:id-1', why: 'quarantine' } },
      { kind: 'quarantine', agentDid: A, payload: { ...q, details: 'drift', forensic: { toolCalls: 17 } } },
    ]);
    expect(effectiveRingOf(out.data, participant(out.data, A), NOW)).toBe(3);
    expect(participant(out.data, A).ring).toBe(2);
    expect(quarantine(two()).result.untilMs).toBe(NOW + 300_000);
  });

  it('is idempotent while the quarantine lasts', () => {
    const data = quarantine(two(), { onTimeout: 'kill' }).data;
    const again = quarantine(data, { reason: 'manual', onTimeout: 'release' });
    expect(again).toEqual({ data, result: data.quarantines![A], events: [] });
    expect(again.result.onTimeout).toBe('kill');
  });

  it('refuses agents that are not active and sessions that are closing', () => {
    expect(failureOf(() => quarantine(killed(two(), A))).type).toBe(ErrorType.AgentKilled);
    expect(failureOf(() => quarantine(left(two(), A))).type).toBe(ErrorType.NotParticipant);
    const closing = beginTermination(two(), { reason: 'x' }, ctx()).data;
    expect(failureOf(() => quarantine(closing)).type).toBe(ErrorType.IllegalTransition);
  });
});

describe('releaseQuarantine', () => {
  const release = (data: SessionData, reason?: string) =>
    releaseQuarantine(
      deepFreeze(data),
      parse(ReleaseQuarantineInput, { agentDid: A, authorizedBy: CREATOR, ...(reason ? { reason } : {}) }),
      ctx(),
    );

  it('lifts the quarantine and records who did and why', () => {
    const data = quarantined(two(), A);
    const out = release(data, 'false alarm');
    expect(out.result).toEqual({ released: true });
    expect(out.data.quarantines).toEqual({});
    expect(out.events).toEqual([
      {
        kind: 'quarantine_released',
        agentDid: A,
        payload: { quarantineId: `q-${A}`, why: 'operator', authorizedBy: CREATOR, reason: 'false alarm' },
      },
    ]);
    expect(effectiveRingOf(out.data, participant(out.data, A), NOW)).toBe(2);
    expect(release(data).events[0]!.payload).toMatchObject({ reason: 'released' });
  });

  it('answers NotFound for an agent that is not quarantined', () => {
    const none = failureOf(() => release(two()));
    expect(none.type).toBe(ErrorType.NotFound);
    expect(hvErrorDetails(none)).toEqual({ agentDid: A });
  });
});

describe('registeredSubstitute', () => {
  const [GONE, ISOLATED, SANDBOX, BACKUP, SPARE] = [
    did('gone'),
    did('isolated'),
    did('sandbox'),
    did('backup'),
    did('spare'),
  ];

  it('picks the first configured agent that is active, not quarantined and at least as privileged', () => {
    let data = joined(newSession({ substitutes: [A, GONE, ISOLATED, SANDBOX, BACKUP, SPARE] }), A, 0.9);
    for (const agent of [GONE, ISOLATED, BACKUP, SPARE]) data = joined(data, agent, 0.9);
    data = joined(data, SANDBOX, 0.3);
    data = quarantined(left(data, GONE), ISOLATED);
    expect(registeredSubstitute(deepFreeze(data), A, NOW)).toBe(BACKUP);
    expect(registeredSubstitute(killed(data, A), A, NOW)).toBe(BACKUP);
    expect(registeredSubstitute(data, did('ghost'), NOW)).toBeUndefined();
    expect(registeredSubstitute(two(), A, NOW)).toBeUndefined();
  });

  it('judges the candidate by its effective ring against the killed agent’s ring', () => {
    const EDGE = did('edge');
    const data = joined(ringOne(newSession({ substitutes: [C, EDGE] }), A), EDGE, 0.6);
    const withC = joined(data, C, 0.9);
    expect(registeredSubstitute(withC, A, NOW)).toBeUndefined();
    const cUp = elevated(withC, { agentDid: C, targetRing: 1, reason: 'cover', approvedBy: A, ttlSeconds: 60 });
    expect(registeredSubstitute(cUp, A, NOW)).toBe(C);
    expect(registeredSubstitute(cUp, A, NOW + 60_000)).toBeUndefined();
    expect(registeredSubstitute(withC, EDGE, NOW)).toBe(C);
  });
});

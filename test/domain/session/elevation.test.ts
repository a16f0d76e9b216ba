import { describe, expect, it } from 'vitest';
import { ElevationRequest, type ElevationRequestInput } from '../../../domain/elevation.js';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import { beginTermination, effectiveRingOf, elevateAgent, revokeElevation } from '../../../domain/session/index.js';
import { RevokeElevationInput, type SessionData } from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import {
  CREATOR,
  NOW,
  ctx,
  did,
  elevated,
  joined,
  killed,
  left,
  newSession,
  parse,
  participant,
  quarantined,
  ringOne,
} from '../../helpers/session-data.js';

const [OPS, PEER, LEAD, OP] = [did('ops'), did('peer'), did('lead'), did('op')];
/** OPS and PEER at ring 2 (σ 0.9), LEAD at ring 1, OP a configured operator who is not a participant. */
const session = (): SessionData =>
  deepFreeze(ringOne(joined(joined(newSession({ operators: [OP] }), OPS, 0.9), PEER, 0.9), LEAD));
const elevate = (data: SessionData, request: Partial<ElevationRequestInput> = {}, nowMs = NOW) =>
  elevateAgent(
    deepFreeze(data),
    parse(ElevationRequest, { agentDid: OPS, targetRing: 1, reason: 'hotfix', approvedBy: CREATOR, ...request }),
    ctx(nowMs),
  );
const ringAt = (data: SessionData, agentDid: string, nowMs: number) =>
  effectiveRingOf(data, participant(data, agentDid), nowMs);
const denial = (fn: () => unknown) => {
  const failure = failureOf(fn);
  return { type: failure.type, ...hvErrorDetails(failure) };
};

describe('elevateAgent', () => {
  it('grants a TTL-bound elevation and records it', () => {
    const out = elevate(session(), { ttlSeconds: 60 });
    const elevation = {
      elevationId: 'elev:id-1',
      agentDid: OPS,
      fromRing: 2,
      toRing: 1,
      grantedAtMs: NOW,
      expiresAtMs: NOW + 60_000,
      ttlSeconds: 60,
      reason: 'hotfix',
      approvedBy: CREATOR,
      attestation: null,
    };
    expect(out.result).toEqual(elevation);
    expect(out.data.elevations).toEqual({ [OPS]: elevation });
    expect(out.events).toEqual([
      {
        kind: 'elevation_granted',
        agentDid: OPS,
        payload: {
          elevationId: 'elev:id-1',
          fromRing: 2,
          toRing: 1,
          expiresAtMs: NOW + 60_000,
          reason: 'hotfix',
          approvedBy: CREATOR,
          attestation: null,
        },
      },
    ]);
    expect(participant(out.data, OPS).ring).toBe(2);
    expect(elevate(session()).result.expiresAtMs).toBe(NOW + 300_000);
  });

  it('raises the effective ring until the elevation expires', () => {
    const data = elevate(session(), { ttlSeconds: 60 }).data;
    expect(ringAt(data, OPS, NOW)).toBe(1);
    expect(ringAt(data, OPS, NOW + 59_999)).toBe(1);
    expect(ringAt(data, OPS, NOW + 60_000)).toBe(2);
  });

  it('records the SRE witness of a ring-0 elevation', () => {
    const attestation = { kind: 'sre-witness' as const, witnessDid: did('sre'), statement: 'INC-42' };
    const out = elevate(session(), { targetRing: 0, attestation });
    expect(out.result).toMatchObject({ toRing: 0, attestation });
    expect(out.events[0]!.payload).toMatchObject({ toRing: 0, attestation });
    expect(denial(() => elevate(session(), { targetRing: 0 }))).toMatchObject({
      type: ErrorType.ElevationDenied,
      reason: 'ring_0_requires_sre_witness',
    });
  });

  it('accepts operators and active participants already at the target ring as approvers', () => {
    expect(elevate(session(), { approvedBy: OP }).result.approvedBy).toBe(OP);
    expect(elevate(session(), { approvedBy: LEAD }).result.approvedBy).toBe(LEAD);
    const viaElevatedPeer = elevated(session(), { agentDid: PEER, targetRing: 1, reason: 'x', approvedBy: CREATOR });
    expect(elevate(viaElevatedPeer, { approvedBy: PEER }).result.approvedBy).toBe(PEER);
  });

  it('refuses any other approver with approver_not_authorized', () => {
    for (const [data, approvedBy] of [
      [session(), PEER],
      [session(), did('stranger')],
      [left(session(), LEAD), LEAD],
      [quarantined(session(), LEAD), LEAD],
    ] as const)
      expect(denial(() => elevate(data, { approvedBy }))).toEqual({
        type: ErrorType.ElevationDenied,
        reason: 'approver_not_authorized',
        agentDid: OPS,
        approvedBy,
      });
  });

  it('applies the elevation rules before the approver check', () => {
    expect(denial(() => elevate(session(), { approvedBy: undefined }))).toMatchObject({ reason: 'approval_required' });
    expect(denial(() => elevate(session(), { approvedBy: OPS }))).toMatchObject({ reason: 'approval_required' });
    expect(denial(() => elevate(session(), { targetRing: 2, approvedBy: PEER }))).toMatchObject({
      reason: 'invalid_target',
    });
    const once = elevate(session()).data;
    expect(denial(() => elevate(once, {}, NOW + 1_000))).toMatchObject({ reason: 'duplicate_elevation' });
    expect(elevate(once, {}, NOW + 300_000).result.grantedAtMs).toBe(NOW + 300_000);
    const lowTrust = joined(session(), did('low'), 0.7);
    expect(denial(() => elevate(lowTrust, { agentDid: did('low') }))).toMatchObject({ reason: 'insufficient_trust' });
  });

  it('lets ring 3 reach ring 2 without an approver when the eff-score allows it', () => {
    const data = joined(session(), did('edge'), 0.6);
    expect(participant(data, did('edge')).ring).toBe(3);
    const out = elevate(data, { agentDid: did('edge'), targetRing: 2, approvedBy: undefined });
    expect(out.result).toMatchObject({ fromRing: 3, toRing: 2, approvedBy: null });
  });

  it('refuses quarantined, killed and unknown agents and a closing session', () => {
    expect(failureOf(() => elevate(quarantined(session(), OPS))).type).toBe(ErrorType.AgentQuarantined);
    expect(failureOf(() => elevate(killed(session(), OPS))).type).toBe(ErrorType.AgentKilled);
    expect(failureOf(() => elevate(session(), { agentDid: did('ghost') })).type).toBe(ErrorType.NotParticipant);
    const closing = beginTermination(session(), { reason: 'x' }, ctx()).data;
    expect(failureOf(() => elevate(closing)).type).toBe(ErrorType.IllegalTransition);
  });
});

describe('revokeElevation', () => {
  const revoke = (data: SessionData, input: Partial<RevokeElevationInput> = {}, nowMs = NOW) =>
    revokeElevation(deepFreeze(data), parse(RevokeElevationInput, { agentDid: OPS, ...input }), ctx(nowMs));

  it('ends the active elevation early and records why and by whom', () => {
    const data = elevate(session()).data;
    const out = revoke(data, { reason: 'done', authorizedBy: CREATOR });
    expect(out.result).toEqual({ revoked: data.elevations[OPS] });
    expect(out.data.elevations).toEqual({});
    expect(out.events).toEqual([
      {
        kind: 'elevation_revoked',
        agentDid: OPS,
        payload: { elevationId: 'elev:id-1', why: 'done', authorizedBy: CREATOR },
      },
    ]);
    expect(ringAt(out.data, OPS, NOW)).toBe(2);
    expect(revoke(data).events[0]!.payload).toEqual({ elevationId: 'elev:id-1', why: 'revoked', authorizedBy: null });
  });

  it('answers revoked: null, without an event, when there is no active elevation', () => {
    const data = session();
    expect(revoke(data)).toEqual({ data, result: { revoked: null }, events: [] });
    const expired = elevate(session(), { ttlSeconds: 60 }).data;
    expect(revoke(expired, {}, NOW + 60_000)).toEqual({ data: expired, result: { revoked: null }, events: [] });
    expect(failureOf(() => revoke(data, { agentDid: did('ghost') })).type).toBe(ErrorType.NotParticipant);
  });
});

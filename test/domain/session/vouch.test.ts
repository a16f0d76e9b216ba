import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../../domain/errors.js';
import { toMicro } from '../../../domain/liability.js';
import { beginTermination, joinSession, vouchFor } from '../../../domain/session/index.js';
import {
  JoinSessionInput,
  VouchInput,
  type VouchInput as VouchRaw,
  type SessionData,
} from '../../../domain/session-types.js';
import { deepFreeze, failureOf } from '../../helpers/domain.js';
import { NOW, SESSION_ID, ctx, did, joined, killed, left, newSession, parse } from '../../helpers/session-data.js';

const [SPONSOR, PROTEGE, OTHER] = [did('sponsor'), did('protege'), did('other')];
const session = () => joined(joined(newSession(), SPONSOR, 0.9), OTHER, 0.9);
const vouch = (data: SessionData, input: Partial<VouchRaw> = {}, nowMs = NOW) =>
  vouchFor(deepFreeze(data), parse(VouchInput, { voucherDid: SPONSOR, voucheeDid: PROTEGE, ...input }), ctx(nowMs));
const join = (data: SessionData, agentDid: string, sigmaRaw: number, nowMs = NOW) =>
  joinSession(deepFreeze(data), parse(JoinSessionInput, { agentDid, sigmaRaw }), ctx(nowMs)).result;

describe('vouchFor', () => {
  it('bonds a share of the voucher’s σ: micro-units in the vouch, decimals in the event', () => {
    const out = vouch(session(), { bondPct: 0.5 });
    expect(out.result).toEqual({
      vouchId: 'id-1',
      sessionId: SESSION_ID,
      voucherDid: SPONSOR,
      voucheeDid: PROTEGE,
      voucherSigma: 900_000,
      bond: 450_000,
      createdAtMs: NOW,
      expiresAtMs: null,
      releasedAtMs: null,
    });
    expect(out.data.vouches).toEqual([out.result]);
    expect(out.events).toEqual([
      {
        kind: 'vouch',
        agentDid: SPONSOR,
        payload: { vouchId: 'id-1', voucheeDid: PROTEGE, bond: 0.45, voucherSigma: 0.9, expiresAtMs: null },
      },
    ]);
  });

  it('uses the session’s bondPct by default and an expiry when asked', () => {
    const out = vouch(session(), { expiresInSeconds: 60 });
    expect(out.result).toMatchObject({ bond: 180_000, expiresAtMs: NOW + 60_000 });
    expect(out.events[0]!.payload).toMatchObject({ bond: 0.18, expiresAtMs: NOW + 60_000 });
    const custom = joined(newSession({ liability: { bondPct: 0.3 } }), SPONSOR, 0.9);
    expect(vouch(custom).result.bond).toBe(270_000);
  });

  it('needs an active voucher and a vouchee that was not killed here', () => {
    for (const data of [newSession(), left(session(), SPONSOR), killed(session(), SPONSOR)]) {
      const refused = failureOf(() => vouch(data));
      expect(refused.type).toBe(ErrorType.NotParticipant);
      expect(hvErrorDetails(refused)).toEqual({ agentDid: SPONSOR });
    }
    const dead = failureOf(() => vouch(killed(session(), OTHER), { voucheeDid: OTHER }));
    expect(dead.type).toBe(ErrorType.AgentKilled);
    expect(hvErrorDetails(dead)).toEqual({ agentDid: OTHER });
    const closing = beginTermination(session(), { reason: 'x' }, ctx()).data;
    expect(failureOf(() => vouch(closing)).type).toBe(ErrorType.IllegalTransition);
  });

  it('applies the liability rules: no self-vouching, a minimum σ, the exposure cap, no cycles', () => {
    const reasonOf = (fn: () => unknown) => {
      const failure = failureOf(fn);
      expect(failure.type).toBe(ErrorType.VouchRejected);
      return hvErrorDetails(failure).reason;
    };
    expect(reasonOf(() => vouch(session(), { voucheeDid: SPONSOR }))).toBe('self');
    expect(reasonOf(() => vouch(joined(session(), did('weak'), 0.45), { voucherDid: did('weak') }))).toBe(
      'below_minimum',
    );
    const bonded = vouch(session(), { bondPct: 0.5 }).data;
    const over = failureOf(() => vouch(bonded, { voucheeDid: did('second'), bondPct: 0.5 }));
    expect(hvErrorDetails(over)).toMatchObject({ reason: 'max_exposure', limit: toMicro(0.72) });
    const pq = vouch(session(), { voucheeDid: OTHER, bondPct: 0.1 }).data;
    expect(reasonOf(() => vouch(pq, { voucherDid: OTHER, voucheeDid: SPONSOR }))).toBe('cycle');
  });
});

describe('a vouch at join', () => {
  it('raises the vouchee’s eff-score by ω × bond: 0.5 + 0.5 × 0.45 = 0.725 → ring 2 instead of the sandbox', () => {
    const data = vouch(session(), { bondPct: 0.5 }).data;
    expect(join(data, PROTEGE, 0.5)).toEqual({
      agentDid: PROTEGE,
      ring: 2,
      effScore: 0.725,
      sandboxed: false,
      standing: 'admit',
    });
    expect(join(data, did('loner'), 0.5)).toMatchObject({ ring: 3, effScore: 0.5, sandboxed: true });
  });

  it('stops counting once the bond has expired', () => {
    const data = vouch(session(), { bondPct: 0.5, expiresInSeconds: 60 }).data;
    expect(join(data, PROTEGE, 0.5, NOW + 59_999).effScore).toBe(0.725);
    expect(join(data, PROTEGE, 0.5, NOW + 60_000)).toMatchObject({ effScore: 0.5, ring: 3 });
  });
});

import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../domain/errors.js';
import {
  DEFAULT_LIABILITY_POLICY,
  LEDGER_ENTRY_TYPES,
  LEDGER_SEVERITY,
  LiabilityPolicy,
  MICRO_ONE,
  attributeSagaFault,
  checkVouch,
  effScore,
  exposureOf,
  fromMicro,
  isActive,
  mulMicro,
  parseLiabilityPolicy,
  riskProfile,
  shapleyValues,
  slashCascade,
  toMicro,
  type LedgerEntryType,
  type LiabilityPolicyInput,
  type Micro,
  type SagaStepOutcome,
  type Vouch,
  type VouchRequest,
} from '../../domain/liability.js';
import { parseSagaDefinition, type SagaDefinitionInput } from '../../domain/saga-dsl.js';
import { deepFreeze, failureOf } from '../helpers/domain.js';

const NOW = 1_735_689_600_000;
const A = 'did:mesh:a';
const B = 'did:mesh:b';
const C = 'did:mesh:c';
const D = 'did:mesh:d';

const policy = (overrides: LiabilityPolicyInput = {}): LiabilityPolicy => LiabilityPolicy.parse(overrides);

let vouchSeq = 0;
/** A vouch recorded directly (amounts in micro-units), active unless told otherwise. */
function vouch(voucherDid: string, voucheeDid: string, bond: Micro, extra: Partial<Vouch> = {}): Vouch {
  vouchSeq++;
  return {
    vouchId: `sponsor:${vouchSeq}`,
    sessionId: 'ss-test',
    voucherDid,
    voucheeDid,
    voucherSigma: 900_000,
    bond,
    createdAtMs: NOW - 60_000 + vouchSeq,
    expiresAtMs: null,
    releasedAtMs: null,
    ...extra,
  };
}

/** The `VouchRejected` failure of a refused request, with its details. */
function rejection(vouches: Vouch[], request: VouchRequest, p = policy()) {
  const failure = failureOf(() => checkVouch(vouches, request, p, NOW));
  expect(failure.type).toBe(ErrorType.VouchRejected);
  return { message: failure.message, details: hvErrorDetails(failure) };
}

/** Records an accepted vouch the way the caller would, so later requests see it. */
function accept(vouches: Vouch[], request: VouchRequest, p = policy()): Micro {
  const { bond } = checkVouch(vouches, request, p, NOW);
  vouches.push(vouch(request.voucherDid, request.voucheeDid, bond, { voucherSigma: request.voucherSigma }));
  return bond;
}

describe('fixed point', () => {
  it('converts scores to exact micro-units and back', () => {
    expect(toMicro(0.45)).toBe(450_000);
    expect(toMicro(0.1 + 0.2)).toBe(300_000);
    expect(toMicro(0)).toBe(0);
    expect(Object.is(toMicro(-0), 0)).toBe(true);
    expect(toMicro(1)).toBe(MICRO_ONE);
    expect(toMicro(0.0000004)).toBe(0);
    expect(fromMicro(725_000)).toBe(0.725);
  });

  it.each([Number.NaN, -0.1, 1.000001, Number.POSITIVE_INFINITY])('refuses %s', (bad) => {
    const failure = failureOf(() => toMicro(bad));
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toContain('between 0 and 1');
  });

  it('multiplies with half-up rounding to the nearest micro-unit', () => {
    expect(mulMicro(900_000, 500_000)).toBe(450_000);
    expect(mulMicro(800_000, 900_000)).toBe(720_000);
    expect(mulMicro(500_000, 1)).toBe(1); // 0.5 micro-units round up
    expect(mulMicro(499_999, 1)).toBe(0);
    expect(mulMicro(1, 1_500_000)).toBe(2); // 1.5 rounds up
    expect(mulMicro(0, MICRO_ONE)).toBe(0);
  });

  it('stays exact when one factor is a sum above 1.0', () => {
    expect(mulMicro(500_000, 1_700_000)).toBe(850_000);
    for (const [a, b] of [
      [333_333, 2_500_001],
      [777_777, 9_999_999],
      [1, 3_500_000],
      [123_457, 1_000_001],
    ] as const) {
      expect(mulMicro(a, b)).toBe(Math.round((a * b) / 1e6));
      expect(mulMicro(b, a)).toBe(mulMicro(a, b));
    }
  });
});

describe('LiabilityPolicy', () => {
  it('defaults to the reference constants', () => {
    expect(LiabilityPolicy.parse({})).toEqual({
      omega: 0.5,
      bondPct: 0.2,
      maxExposure: 0.8,
      minVoucherSigma: 0.5,
      cascadeDepth: 2,
      sigmaFloor: 0.05,
    });
    expect(DEFAULT_LIABILITY_POLICY).toEqual(LiabilityPolicy.parse({}));
    expect(Object.isFrozen(DEFAULT_LIABILITY_POLICY)).toBe(true);
  });

  it.each([
    ['a string number', { omega: '0.5' }],
    ['omega above 1', { omega: 1.5 }],
    ['a zero bond share', { bondPct: 0 }],
    ['a zero exposure', { maxExposure: 0 }],
    ['a fractional depth', { cascadeDepth: 1.5 }],
    ['a depth above 5', { cascadeDepth: 6 }],
    ['a negative floor', { sigmaFloor: -0.01 }],
    ['NaN', { minVoucherSigma: Number.NaN }],
    ['an unknown key', { omgea: 0.5 }],
  ])('refuses %s', (_, input) => {
    expect(LiabilityPolicy.safeParse(input).success).toBe(false);
    expect(failureOf(() => parseLiabilityPolicy(input)).type).toBe(ErrorType.InvalidInput);
  });

  it('accepts the bounds', () => {
    expect(policy({ omega: 0, bondPct: 1, maxExposure: 1, cascadeDepth: 0, sigmaFloor: 1 })).toMatchObject({
      omega: 0,
      cascadeDepth: 0,
    });
    expect(parseLiabilityPolicy(undefined)).toEqual(DEFAULT_LIABILITY_POLICY);
  });
});

describe('vouching', () => {
  it('treats released and expired bonds as inactive, with exclusive expiry', () => {
    expect(isActive(vouch(A, B, 1), NOW)).toBe(true);
    expect(isActive(vouch(A, B, 1, { releasedAtMs: NOW - 1 }), NOW)).toBe(false);
    expect(isActive(vouch(A, B, 1, { expiresAtMs: NOW + 1 }), NOW)).toBe(true);
    expect(isActive(vouch(A, B, 1, { expiresAtMs: NOW }), NOW)).toBe(false);
  });

  it('sums the exposure of active bonds only', () => {
    const vouches = deepFreeze([
      vouch(A, B, 100_000),
      vouch(A, C, 200_000),
      vouch(A, D, 400_000, { expiresAtMs: NOW }),
      vouch(A, D, 400_000, { releasedAtMs: NOW - 5 }),
      vouch(B, C, 300_000),
    ]);
    expect(exposureOf(vouches, A, NOW)).toBe(300_000);
    expect(exposureOf(vouches, B, NOW)).toBe(300_000);
    expect(exposureOf(vouches, C, NOW)).toBe(0);
  });

  it('bonds the default 20 % of the voucher σ', () => {
    expect(checkVouch([], { voucherDid: A, voucheeDid: B, voucherSigma: 900_000 }, policy(), NOW)).toEqual({
      bond: 180_000,
    });
  });

  it('σ 0.9, bond 50 %: bonds 0.45 against a 0.72 limit, and refuses a second 0.45', () => {
    const vouches: Vouch[] = [];
    expect(accept(vouches, { voucherDid: A, voucheeDid: B, voucherSigma: 900_000, bondPct: 0.5 })).toBe(450_000);
    const { message, details } = rejection(vouches, {
      voucherDid: A,
      voucheeDid: C,
      voucherSigma: 900_000,
      bondPct: 0.5,
    });
    expect(message).toContain('exceed max exposure');
    expect(details).toEqual({
      reason: 'max_exposure',
      voucherDid: A,
      voucheeDid: C,
      current: 450_000,
      bond: 450_000,
      limit: 720_000,
    });
  });

  it('σ 0.9, bond 40 % twice fills the 0.72 limit exactly, and refuses a third bond', () => {
    const vouches: Vouch[] = [];
    const request = (voucheeDid: string, bondPct: number): VouchRequest => ({
      voucherDid: A,
      voucheeDid,
      voucherSigma: 900_000,
      bondPct,
    });
    expect(accept(vouches, request(B, 0.4))).toBe(360_000);
    expect(accept(vouches, request(C, 0.4))).toBe(360_000);
    expect(exposureOf(vouches, A, NOW)).toBe(720_000);
    const { details } = rejection(vouches, request(D, 0.1));
    expect(details).toMatchObject({ reason: 'max_exposure', current: 720_000, bond: 90_000, limit: 720_000 });
    // Even the smallest possible bond no longer fits.
    expect(rejection(vouches, request(D, 0.000002)).details).toMatchObject({ reason: 'max_exposure', bond: 2 });
  });

  it('frees exposure when a bond is released or expires', () => {
    const vouches = [vouch(A, B, 450_000, { releasedAtMs: NOW - 1 }), vouch(A, C, 270_000, { expiresAtMs: NOW })];
    expect(
      checkVouch(vouches, { voucherDid: A, voucheeDid: D, voucherSigma: 900_000, bondPct: 0.8 }, policy(), NOW),
    ).toEqual({ bond: 720_000 });
  });

  it('refuses a self-vouch', () => {
    const { message, details } = rejection([], { voucherDid: A, voucheeDid: A, voucherSigma: 900_000 });
    expect(message).toContain('Cannot sponsor yourself');
    expect(details).toMatchObject({ reason: 'self' });
  });

  it('refuses a voucher below the minimum σ, and accepts one exactly at it', () => {
    const { message, details } = rejection([], { voucherDid: A, voucheeDid: B, voucherSigma: 499_999 });
    expect(message).toContain('below minimum');
    expect(details).toMatchObject({ reason: 'below_minimum', voucherSigma: 499_999, minimum: 500_000 });
    expect(checkVouch([], { voucherDid: A, voucheeDid: B, voucherSigma: 500_000 }, policy(), NOW).bond).toBe(100_000);
    expect(
      rejection([], { voucherDid: A, voucheeDid: B, voucherSigma: 700_000 }, policy({ minVoucherSigma: 0.75 })).details,
    ).toMatchObject({ reason: 'below_minimum' });
  });

  it.each([0, -0.1, 1.01, Number.NaN, 0.0000004])('refuses bond share %s', (bondPct) => {
    const { details } = rejection([], { voucherDid: A, voucheeDid: B, voucherSigma: 900_000, bondPct });
    expect(details).toMatchObject({ reason: 'bad_bond_pct' });
  });

  it('accepts a bond share of exactly 1 when the exposure allows it', () => {
    const request = { voucherDid: A, voucheeDid: B, voucherSigma: 900_000, bondPct: 1 };
    expect(checkVouch([], request, policy({ maxExposure: 1 }), NOW)).toEqual({ bond: 900_000 });
  });

  it('refuses a vouch that closes a cycle of active vouches', () => {
    const vouches = deepFreeze([vouch(A, B, 100_000), vouch(B, C, 100_000)]);
    const { message, details } = rejection(vouches, { voucherDid: C, voucheeDid: A, voucherSigma: 900_000 });
    expect(message).toContain('Circular');
    expect(details).toMatchObject({ reason: 'cycle', cycle: [C, A, B, C] });
    expect(rejection(vouches, { voucherDid: B, voucheeDid: A, voucherSigma: 900_000 }).details).toMatchObject({
      reason: 'cycle',
      cycle: [B, A, B],
    });
    // Same direction again, or a diamond, is no cycle.
    expect(checkVouch(vouches, { voucherDid: A, voucheeDid: C, voucherSigma: 900_000 }, policy(), NOW).bond).toBe(
      180_000,
    );
  });

  it('ignores released and expired vouches when looking for cycles', () => {
    const vouches = [vouch(A, B, 100_000, { expiresAtMs: NOW }), vouch(B, C, 100_000, { releasedAtMs: NOW - 1 })];
    expect(checkVouch(vouches, { voucherDid: C, voucheeDid: A, voucherSigma: 900_000 }, policy(), NOW).bond).toBe(
      180_000,
    );
  });

  it('checks in the order self, minimum, bond share, cycle, exposure', () => {
    const reasonOf = (vouches: Vouch[], request: VouchRequest) => rejection(vouches, request).details['reason'];
    expect(reasonOf([], { voucherDid: A, voucheeDid: A, voucherSigma: 100_000, bondPct: 5 })).toBe('self');
    expect(reasonOf([], { voucherDid: A, voucheeDid: B, voucherSigma: 100_000, bondPct: 5 })).toBe('below_minimum');
    const loop = [vouch(B, A, 100_000)];
    expect(reasonOf(loop, { voucherDid: A, voucheeDid: B, voucherSigma: 900_000, bondPct: 5 })).toBe('bad_bond_pct');
    const full = [vouch(B, A, 100_000), vouch(A, C, 720_000)];
    expect(reasonOf(full, { voucherDid: A, voucheeDid: B, voucherSigma: 900_000 })).toBe('cycle');
  });

  it('refuses malformed input as InvalidInput, and never mutates the vouches', () => {
    const vouches = deepFreeze([vouch(A, B, 100_000)]);
    const invalid = (fn: () => unknown) => expect(failureOf(fn).type).toBe(ErrorType.InvalidInput);
    invalid(() => checkVouch(vouches, { voucherDid: A, voucheeDid: C, voucherSigma: 0.9 }, policy(), NOW));
    invalid(() => checkVouch(vouches, { voucherDid: '', voucheeDid: C, voucherSigma: 900_000 }, policy(), NOW));
    invalid(() => checkVouch(vouches, { voucherDid: A, voucheeDid: C, voucherSigma: 900_000 }, policy(), Number.NaN));
    invalid(() => exposureOf([vouch(A, B, 0.2)], A, NOW));
  });
});

describe('effScore', () => {
  it('lifts the vouchee by ω × its bonded σ (guide example: 0.30 + 0.5 × 0.85 = 0.725)', () => {
    expect(effScore(300_000, [vouch(A, B, 850_000)], B, policy(), NOW)).toBe(725_000);
  });

  it('sums every active sponsor, ignores other vouchees and inactive bonds, and caps at 1', () => {
    const vouches = deepFreeze([
      vouch(A, B, 200_000),
      vouch(C, B, 100_000),
      vouch(D, B, 500_000, { expiresAtMs: NOW }),
      vouch(A, C, 500_000),
    ]);
    expect(effScore(300_000, vouches, B, policy({ omega: 0.3 }), NOW)).toBe(390_000);
    expect(effScore(300_000, vouches, D, policy(), NOW)).toBe(300_000);
    expect(effScore(900_000, [vouch(A, B, 800_000), vouch(C, B, 800_000)], B, policy(), NOW)).toBe(MICRO_ONE);
    expect(effScore(100_000, [vouch(A, B, 800_000), vouch(C, B, 800_000)], B, policy(), NOW)).toBe(900_000);
  });

  it('is exact where floats drift', () => {
    // 0.1 + 0.2 × … in floats is 0.30000000000000004; in micro-units it is 300_000.
    expect(effScore(100_000, [vouch(A, B, 200_000)], B, policy({ omega: 1 }), NOW)).toBe(300_000);
  });

  it('refuses a σ that is not micro-units', () => {
    expect(failureOf(() => effScore(0.3, [], B, policy(), NOW)).type).toBe(ErrorType.InvalidInput);
  });
});

describe('slashCascade', () => {
  const slash = (culpritDid: string, sigmas: Record<string, Micro>, vouches: Vouch[], p: LiabilityPolicyInput = {}) =>
    slashCascade(deepFreeze({ culpritDid, sigmas, vouches, policy: policy(p), nowMs: NOW })).changes;
  const afterOf = (changes: ReturnType<typeof slash>) =>
    Object.fromEntries(changes.map((change) => [change.agentDid, change.after]));

  it('zeroes the culprit and halves its sponsor at ω 0.5 (0.9 → 0.45)', () => {
    expect(slash(B, { [A]: 900_000, [B]: 700_000 }, [vouch(A, B, 180_000)])).toEqual([
      { agentDid: B, before: 700_000, after: 0, depth: 0, kind: 'slash_received', via: null },
      { agentDid: A, before: 900_000, after: 450_000, depth: 1, kind: 'slash_cascaded', via: B },
    ]);
  });

  it('ω 0.3: sponsors 0.8 → 0.56 and 0.7 → 0.49', () => {
    const changes = slash(C, { [A]: 800_000, [B]: 700_000, [C]: 600_000 }, [vouch(B, C, 1), vouch(A, C, 1)], {
      omega: 0.3,
    });
    expect(afterOf(changes)).toEqual({ [C]: 0, [A]: 560_000, [B]: 490_000 });
    expect(changes.map((change) => change.agentDid)).toEqual([C, A, B]);
  });

  it('ω 0.8: sponsor 0.8 → 0.16', () => {
    expect(afterOf(slash(B, { [A]: 800_000, [B]: 600_000 }, [vouch(A, B, 1)], { omega: 0.8 }))[A]).toBe(160_000);
  });

  it('never pushes a sponsor below the σ floor (0.06 at ω 0.95 → 0.05), nor raises one already below it', () => {
    expect(afterOf(slash(B, { [A]: 60_000, [B]: 600_000 }, [vouch(A, B, 1)], { omega: 0.95 }))[A]).toBe(50_000);
    expect(afterOf(slash(B, { [A]: 30_000, [B]: 600_000 }, [vouch(A, B, 1)], { omega: 0.95 }))[A]).toBe(30_000);
  });

  it('cascades up the vouch graph to the policy depth', () => {
    const vouches = [vouch(A, B, 1), vouch(B, C, 1)];
    const sigmas = { [A]: 800_000, [B]: 900_000, [C]: 700_000 };
    expect(slash(C, sigmas, vouches)).toEqual([
      { agentDid: C, before: 700_000, after: 0, depth: 0, kind: 'slash_received', via: null },
      { agentDid: B, before: 900_000, after: 450_000, depth: 1, kind: 'slash_cascaded', via: C },
      { agentDid: A, before: 800_000, after: 400_000, depth: 2, kind: 'slash_cascaded', via: B },
    ]);
    expect(afterOf(slash(C, sigmas, vouches, { cascadeDepth: 1 }))).toEqual({ [C]: 0, [B]: 450_000 });
    expect(afterOf(slash(C, sigmas, vouches, { cascadeDepth: 0 }))).toEqual({ [C]: 0 });
  });

  it('stops at depth 2 by default', () => {
    const vouches = [vouch(D, A, 1), vouch(A, B, 1), vouch(B, C, 1)];
    const changes = slash(C, { [A]: 800_000, [B]: 900_000, [C]: 700_000, [D]: 900_000 }, vouches);
    expect(changes.map((change) => change.agentDid)).toEqual([C, B, A]);
    expect(slash(C, { [C]: 700_000 }, vouches, { cascadeDepth: 3 }).map((change) => change.depth)).toEqual([
      0, 1, 2, 3,
    ]);
  });

  it('does not cascade through expired or released vouches', () => {
    const vouches = [vouch(A, C, 1, { expiresAtMs: NOW }), vouch(B, C, 1, { releasedAtMs: NOW - 1 })];
    expect(slash(C, { [A]: 800_000, [B]: 800_000, [C]: 500_000 }, vouches)).toHaveLength(1);
  });

  it('changes each agent once, at its shallowest depth, whatever the cycles and diamonds', () => {
    // A sponsors C directly and through B; C sponsors A back (a cycle the vouch checks would have refused).
    const vouches = [vouch(A, C, 1), vouch(B, C, 1), vouch(A, B, 1), vouch(C, A, 1)];
    const changes = slash(C, { [A]: 800_000, [B]: 800_000, [C]: 800_000 }, vouches);
    expect(changes.map(({ agentDid, depth }) => [agentDid, depth])).toEqual([
      [C, 0],
      [A, 1],
      [B, 1],
    ]);
  });

  it('takes the smallest did as `via` when a sponsor backs several slashed agents at one depth', () => {
    const E = 'did:mesh:e';
    const vouches = [vouch(A, E, 1), vouch(B, E, 1), vouch(C, B, 1), vouch(C, A, 1)];
    const changes = slash(E, { [E]: 500_000 }, vouches);
    expect(changes.map(({ agentDid, depth, via }) => [agentDid, depth, via])).toEqual([
      [E, 0, null],
      [A, 1, E],
      [B, 1, E],
      [C, 2, A],
    ]);
  });

  it('falls back to the σ recorded on the most recent vouch for agents missing from sigmas', () => {
    const vouches = [
      vouch(A, B, 1, { voucherSigma: 600_000, createdAtMs: NOW - 10 }),
      vouch(A, C, 1, { voucherSigma: 800_000, createdAtMs: NOW - 5 }),
    ];
    expect(slash(B, { [B]: 500_000 }, vouches)[1]).toMatchObject({ agentDid: A, before: 800_000, after: 400_000 });
  });

  it('refuses a culprit whose σ is unknown, and malformed sigmas', () => {
    const invalid = (fn: () => unknown) => expect(failureOf(fn).type).toBe(ErrorType.InvalidInput);
    invalid(() => slash(B, {}, [vouch(A, B, 1)]));
    invalid(() => slash(B, { [B]: 0.5 }, []));
    invalid(() => slash(B, { [B]: 500_000, [A]: -1 }, [vouch(A, B, 1)]));
  });
});

describe('shapleyValues', () => {
  const sum = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0);

  it('splits the glove game 2/3 to the right glove and 1/6 to each left glove', () => {
    const glove = (s: ReadonlySet<string>) => (s.has('R') && (s.has('L1') || s.has('L2')) ? 1 : 0);
    const phi = shapleyValues(['R', 'L2', 'L1'], glove);
    expect(Object.keys(phi)).toEqual(['L1', 'L2', 'R']);
    expect(phi['R']).toBeCloseTo(2 / 3, 12);
    expect(phi['L1']).toBeCloseTo(1 / 6, 12);
    expect(phi['L2']).toBeCloseTo(1 / 6, 12);
  });

  it('is efficient: the values sum to v(N) − v(∅)', () => {
    const game = (s: ReadonlySet<string>) => 3 + s.size ** 2 + (s.has('a') && s.has('c') ? 5 : 0);
    const phi = shapleyValues(['a', 'b', 'c', 'd'], game);
    expect(sum(phi)).toBeCloseTo(game(new Set(['a', 'b', 'c', 'd'])) - game(new Set()), 12);
  });

  it('is symmetric and gives a null player nothing', () => {
    const game = (s: ReadonlySet<string>) => (s.has('x') && s.has('y') ? 10 : s.has('x') || s.has('y') ? 4 : 0);
    const phi = shapleyValues(['x', 'y', 'null'], game);
    expect(phi['x']).toBeCloseTo(phi['y']!, 12);
    expect(phi['x']).toBeCloseTo(5, 12);
    expect(phi['null']).toBe(0);
  });

  it('is additive and gives an additive game its weights', () => {
    const weights: Record<string, number> = { p: 1.5, q: -2, r: 4 };
    const additive = (s: ReadonlySet<string>) => [...s].reduce((total, p) => total + weights[p]!, 0);
    const majority = (s: ReadonlySet<string>) => (s.size >= 2 ? 6 : 0);
    const players = ['p', 'q', 'r'];
    const phiAdditive = shapleyValues(players, additive);
    for (const p of players) expect(phiAdditive[p]).toBeCloseTo(weights[p]!, 12);
    const phiMajority = shapleyValues(players, majority);
    const phiSum = shapleyValues(players, (s) => additive(s) + majority(s));
    for (const p of players) expect(phiSum[p]).toBeCloseTo(phiAdditive[p]! + phiMajority[p]!, 12);
  });

  it('handles no players and a single player', () => {
    expect(shapleyValues([], () => 7)).toEqual({});
    expect(shapleyValues(['solo'], (s) => (s.size ? 9 : 2))).toEqual({ solo: 7 });
  });

  it('samples above exactUpTo: exact on an additive game of 14 players', () => {
    const players = Array.from({ length: 14 }, (_, i) => `agent-${String(i).padStart(2, '0')}`);
    const weight = (p: string) => Number(p.slice(-2)) + 1;
    const additive = (s: ReadonlySet<string>) => [...s].reduce((total, p) => total + weight(p), 0);
    const phi = shapleyValues(players, additive, { samples: 200 });
    for (const p of players) expect(Math.abs(phi[p]! - weight(p))).toBeLessThan(1e-9);
    expect(Math.abs(sum(phi) - 105)).toBeLessThan(1e-9);
  });

  it('samples a 14-player majority game within tolerance, efficiently and deterministically', () => {
    const players = Array.from({ length: 14 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const majority = (s: ReadonlySet<string>) => (s.size >= 8 ? 1 : 0);
    const phi = shapleyValues(players, majority, { seed: 42 });
    for (const p of players) expect(Math.abs(phi[p]! - 1 / 14)).toBeLessThan(0.03);
    expect(sum(phi)).toBeCloseTo(1, 12);
    expect(shapleyValues(players, majority, { seed: 42 })).toEqual(phi);
    expect(shapleyValues([...players].reverse(), majority, { seed: 42 })).toEqual(phi);
    expect(shapleyValues(players, majority, { seed: 7 })).not.toEqual(phi);
  });

  it('agrees between the exact and the sampled path on a small game', () => {
    const glove = (s: ReadonlySet<string>) => (s.has('R') && (s.has('L1') || s.has('L2')) ? 1 : 0);
    const sampled = shapleyValues(['L1', 'L2', 'R'], glove, { exactUpTo: 0, samples: 20_000, seed: 3 });
    expect(sampled['R']).toBeCloseTo(2 / 3, 1);
    expect(sampled['L1']).toBeCloseTo(1 / 6, 1);
    expect(sum(sampled)).toBeCloseTo(1, 12);
  });

  it('refuses duplicate players, bad options and non-finite values', () => {
    const invalid = (fn: () => unknown) => expect(failureOf(fn).type).toBe(ErrorType.InvalidInput);
    invalid(() => shapleyValues(['a', 'a'], () => 0));
    invalid(() => shapleyValues(['a'], () => 0, { samples: 0 }));
    invalid(() => shapleyValues(['a'], () => 0, { exactUpTo: 21 }));
    invalid(() => shapleyValues(['a'], () => Number.NaN));
  });
});

describe('attributeSagaFault', () => {
  const X = 'did:mesh:x';
  const Y = 'did:mesh:y';
  const Z = 'did:mesh:z';
  const step = (id: string, agent: string, extra: Record<string, unknown> = {}) => ({
    id,
    action_id: 'do-work',
    agent,
    undo_api: '/undo',
    ...extra,
  });
  const definition = (steps: SagaDefinitionInput['steps'], fanOuts: SagaDefinitionInput['fan_outs'] = []) =>
    parseSagaDefinition({ name: 'attribution', session_id: 'ss-test', steps, fan_outs: fanOuts });
  const outcome = (stepId: string, agentDid: string, state: string): SagaStepOutcome => ({ stepId, agentDid, state });

  it('puts a sequential failure entirely on the failing agent', () => {
    const def = definition([step('s1', A), step('s2', B, { depends_on: ['s1'] }), step('s3', C)]);
    const result = attributeSagaFault({
      definition: def,
      steps: [outcome('s1', A, 'compensated'), outcome('s2', B, 'failed'), outcome('s3', C, 'pending')],
    });
    expect(result).toEqual({ agents: { [A]: 0, [B]: 1, [C]: 0 }, value: 1, rootCause: B });
  });

  it('splits an escalation between the failing step and the failed compensation', () => {
    // v({A}) = 1 (rolled back), v({B}) = 0 (nothing to roll back), v({A, B}) = 2 (escalated).
    const def = definition([step('s1', B), step('s2', A)]);
    const result = attributeSagaFault({
      definition: def,
      steps: [outcome('s1', B, 'compensation_failed'), outcome('s2', A, 'failed')],
    });
    expect(result.value).toBe(2);
    expect(result.agents[A]).toBeCloseTo(1.5, 12);
    expect(result.agents[B]).toBeCloseTo(0.5, 12);
    expect(result.agents[A]! + result.agents[B]!).toBeCloseTo(2, 12);
    expect(result.rootCause).toBe(A);
  });

  it('shares a majority fan-out failure equally between the two failing branches', () => {
    const def = definition(
      [step('x', X), step('y', Y), step('z', Z)],
      [{ policy: 'majority_must_succeed', branch_step_ids: ['x', 'y', 'z'] }],
    );
    const result = attributeSagaFault({
      definition: def,
      steps: [outcome('x', X, 'failed'), outcome('y', Y, 'failed'), outcome('z', Z, 'compensated')],
    });
    expect(result.value).toBe(1);
    expect(result.agents[X]).toBeCloseTo(0.5, 12);
    expect(result.agents[Y]).toBeCloseTo(0.5, 12);
    expect(result.agents[Z]).toBe(0);
    expect(result.rootCause).toBe(X); // tie: smallest did
  });

  it('blames nobody for a branch failure the fan-out policy tolerates', () => {
    const def = definition(
      [step('x', X), step('y', Y), step('z', Z), step('after', A, { depends_on: ['x', 'y', 'z'] })],
      [{ policy: 'majority_must_succeed', branch_step_ids: ['x', 'y', 'z'] }],
    );
    const result = attributeSagaFault({
      definition: def,
      steps: [outcome('x', X, 'failed'), outcome('y', Y, 'committed'), outcome('z', Z, 'committed')],
    });
    expect(result).toEqual({ agents: { [A]: 0, [X]: 0, [Y]: 0, [Z]: 0 }, value: 0, rootCause: null });
  });

  it('escalates when a succeeded branch of a failing fan-out cannot be compensated', () => {
    const def = definition(
      [step('x', X), step('y', Y), step('z', Z)],
      [{ policy: 'all_must_succeed', branch_step_ids: ['x', 'y', 'z'] }],
    );
    const result = attributeSagaFault({
      definition: def,
      steps: [outcome('x', X, 'failed'), outcome('y', Y, 'compensation_failed'), outcome('z', Z, 'cancelled')],
    });
    expect(result.value).toBe(2);
    expect(result.agents).toEqual({ [X]: 1.5, [Y]: 0.5, [Z]: 0 });
  });

  it('ignores a compensation fault on a step after the failure point', () => {
    const def = definition([step('s1', A), step('s2', B)]);
    const result = attributeSagaFault({
      definition: def,
      steps: [outcome('s1', A, 'failed'), outcome('s2', B, 'compensation_failed')],
    });
    expect(result).toEqual({ agents: { [A]: 1, [B]: 0 }, value: 1, rootCause: A });
  });

  it('gives an uninvolved agent 0 and a clean saga no root cause', () => {
    const def = definition([step('s1', A), step('s2', B), step('s3', C)]);
    const failed = attributeSagaFault({ definition: def, steps: [outcome('s1', A, 'failed')] });
    expect(failed.agents).toEqual({ [A]: 1, [B]: 0, [C]: 0 });
    const clean = attributeSagaFault({
      definition: def,
      steps: ['s1', 's2', 's3'].map((id, i) => outcome(id, [A, B, C][i]!, 'committed')),
    });
    expect(clean).toEqual({ agents: { [A]: 0, [B]: 0, [C]: 0 }, value: 0, rootCause: null });
  });

  it('charges the agent that actually ran a step (a substitute)', () => {
    const def = definition([step('s1', A), step('s2', B)]);
    const result = attributeSagaFault({ definition: def, steps: [outcome('s2', D, 'failed')] });
    expect(result).toEqual({ agents: { [A]: 0, [B]: 0, [D]: 1 }, value: 1, rootCause: D });
  });

  it('refuses unknown and repeated steps', () => {
    const def = definition([step('s1', A)]);
    const invalid = (steps: SagaStepOutcome[]) =>
      expect(failureOf(() => attributeSagaFault({ definition: def, steps })).type).toBe(ErrorType.InvalidInput);
    invalid([outcome('nope', A, 'failed')]);
    invalid([outcome('s1', A, 'failed'), outcome('s1', A, 'failed')]);
  });
});

describe('riskProfile', () => {
  const entry = (entryType: LedgerEntryType, severity = 0) => ({ entryType, severity });
  const slashReceived = entry('slash_received', LEDGER_SEVERITY.slash_received);
  const fault = entry('fault_attributed', LEDGER_SEVERITY.fault_attributed);

  it('admits an agent with an empty ledger', () => {
    expect(riskProfile([])).toEqual({
      slashCount: 0,
      quarantineCount: 0,
      cleanSessionCount: 0,
      faultCount: 0,
      raw: 0,
      riskScore: 0,
      recommendation: 'admit',
    });
  });

  it('one slash: raw 0.6, risk 1 − e^−0.3 ≈ 0.2592, admit', () => {
    const profile = riskProfile([slashReceived]);
    expect(profile.raw).toBe(0.6);
    expect(profile.riskScore).toBeCloseTo(1 - Math.exp(-0.3), 12);
    expect(profile.riskScore).toBeCloseTo(0.2592, 4);
    expect(profile).toMatchObject({ slashCount: 1, recommendation: 'admit' });
  });

  it('a slash and a fault: raw 1.1, risk ≈ 0.4231, probation', () => {
    const profile = riskProfile([slashReceived, fault]);
    expect(profile.raw).toBe(1.1);
    expect(profile.riskScore).toBeCloseTo(0.4231, 4);
    expect(profile).toMatchObject({ slashCount: 1, faultCount: 1, recommendation: 'probation' });
  });

  it('denies from raw 2 ln 2.5 ≈ 1.83 on: two slashes and a fault (1.7) are still probation, one more fault is not', () => {
    // The formula puts deny at 1 − e^(−raw/2) ≥ 0.6, i.e. raw ≥ 2 ln 2.5; two slashes and a fault fall just short.
    const almost = riskProfile([slashReceived, slashReceived, fault]);
    expect(almost.raw).toBe(1.7);
    expect(almost.riskScore).toBeCloseTo(1 - Math.exp(-0.85), 12);
    expect(almost.recommendation).toBe('probation');
    const denied = riskProfile([slashReceived, slashReceived, fault, fault]);
    expect(denied.raw).toBe(2.2);
    expect(denied.riskScore).toBeCloseTo(0.6671, 4);
    expect(denied).toMatchObject({ slashCount: 2, faultCount: 2, recommendation: 'deny' });
    expect(riskProfile([slashReceived, slashReceived, slashReceived, fault]).recommendation).toBe('deny');
  });

  it('switches exactly at the thresholds', () => {
    // raw = 2 ln(1 / (1 − risk)): 0.713350 gives risk just above 0.3, 0.713349 just below.
    expect(riskProfile([entry('fault_attributed', 0.713_35)]).recommendation).toBe('probation');
    expect(riskProfile([entry('fault_attributed', 0.713_349)]).recommendation).toBe('admit');
    expect(riskProfile([entry('slash_received', 1), entry('fault_attributed', 0.832_582)]).recommendation).toBe('deny');
    expect(riskProfile([entry('slash_received', 1), entry('fault_attributed', 0.832_581)]).recommendation).toBe(
      'probation',
    );
  });

  it('counts cascaded slashes and quarantines with their own severities, and ignores neutral entries', () => {
    const profile = riskProfile([
      entry('slash_cascaded', 0.4),
      entry('quarantine_entered', 0.25),
      entry('vouch_given', 1),
      entry('vouch_received', 1),
      entry('vouch_released', 1),
      entry('quarantine_released', 1),
    ]);
    expect(profile).toMatchObject({ slashCount: 1, quarantineCount: 1, raw: 0.65 });
  });

  it('lets clean sessions lower the raw risk, but never below 0', () => {
    const clean = (n: number) => Array.from({ length: n }, () => entry('clean_session'));
    expect(riskProfile([slashReceived, fault, ...clean(3)]).raw).toBe(0.8);
    expect(riskProfile([slashReceived, fault, ...clean(3)]).recommendation).toBe('probation');
    expect(riskProfile([slashReceived, ...clean(6)]).raw).toBe(0);
    const many = riskProfile([slashReceived, ...clean(20)]);
    expect(many).toMatchObject({ raw: 0, riskScore: 0, cleanSessionCount: 20, recommendation: 'admit' });
  });

  it('denies a blacklisted agent whatever its ledger', () => {
    expect(riskProfile([], { blacklisted: true }).recommendation).toBe('deny');
    expect(riskProfile([entry('clean_session')], { blacklisted: false }).recommendation).toBe('admit');
  });

  it('refuses unknown entry types and severities outside [0, 1]', () => {
    const invalid = (fn: () => unknown) => expect(failureOf(fn).type).toBe(ErrorType.InvalidInput);
    invalid(() => riskProfile([{ entryType: 'bogus' as LedgerEntryType, severity: 0.5 }]));
    invalid(() => riskProfile([entry('slash_received', -0.5)]));
    invalid(() => riskProfile([entry('slash_received', 1.5)]));
  });

  it('lists every entry type once', () => {
    expect(new Set(LEDGER_ENTRY_TYPES).size).toBe(9);
    for (const type of Object.keys(LEDGER_SEVERITY)) expect(LEDGER_ENTRY_TYPES).toContain(type);
  });
});

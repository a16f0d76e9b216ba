import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  ELEVATION_DEFAULT_TTL_SECONDS,
  ELEVATION_MAX_TTL_SECONDS,
  ElevationDenialReason,
  ElevationRequest,
  effectiveRing,
  expiredElevations,
  grantElevation,
  isElevationActive,
  nextElevationExpiry,
  type Elevation,
  type ElevationRequestInput,
} from '../../domain/elevation.js';
import { ErrorType, hvErrorDetails } from '../../domain/errors.js';
import type { Ring } from '../../domain/rings.js';
import { parseInput } from '../../domain/validation.js';

const ALICE = 'did:mesh:alice';
const BOB = 'did:mesh:bob';
const SRE = 'did:mesh:sre';
const NOW = 1_700_000_000_000;

const parse = (input: ElevationRequestInput) => parseInput(ElevationRequest, input, 'elevation request');

function grant(
  overrides: Partial<ElevationRequestInput> = {},
  ctx: { baseRing?: Ring; effScore?: number; active?: Elevation | null; nowMs?: number } = {},
): Elevation {
  return grantElevation({
    request: parse({ agentDid: ALICE, targetRing: 1, reason: 'rotate credentials', approvedBy: BOB, ...overrides }),
    elevationId: 'elev-1',
    baseRing: ctx.baseRing ?? 2,
    effScore: ctx.effScore ?? 0.9,
    active: ctx.active ?? null,
    nowMs: ctx.nowMs ?? NOW,
  });
}

function denial(fn: () => unknown): { failure: ApplicationFailure; details: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe(ErrorType.ElevationDenied);
    expect(failure.nonRetryable).toBe(true);
    return { failure, details: hvErrorDetails(failure) };
  }
  throw new Error('expected the elevation to be denied');
}

const witness = {
  kind: 'sre-witness' as const,
  witnessDid: SRE,
  statement: 'incident INC-42 needs root',
  ticket: 'INC-42',
};

describe('ElevationRequest schema', () => {
  it('defaults the ttl to 300 seconds', () => {
    expect(parse({ agentDid: ALICE, targetRing: 2, reason: 'deploy' }).ttlSeconds).toBe(ELEVATION_DEFAULT_TTL_SECONDS);
  });

  it('accepts the maximum ttl and rejects one second more as InvalidInput', () => {
    expect(
      parse({ agentDid: ALICE, targetRing: 2, reason: 'x', ttlSeconds: ELEVATION_MAX_TTL_SECONDS }).ttlSeconds,
    ).toBe(3600);
    try {
      parse({ agentDid: ALICE, targetRing: 2, reason: 'x', ttlSeconds: 3601 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).type).toBe(ErrorType.InvalidInput);
      expect((err as ApplicationFailure).message).toContain('ttlSeconds');
    }
  });

  it.each([
    ['a zero ttl', { ttlSeconds: 0 }],
    ['a fractional ttl', { ttlSeconds: 1.5 }],
    ['a blank reason', { reason: '   ' }],
    ['ring 4', { targetRing: 4 }],
    ['an unknown field', { sudo: true }],
    ['an attestation of another kind', { attestation: { ...witness, kind: 'self-signed' } }],
  ])('rejects %s', (_label, patch) => {
    const input = { agentDid: ALICE, targetRing: 2, reason: 'deploy', ...patch } as ElevationRequestInput;
    expect(() => parse(input)).toThrow(ApplicationFailure);
  });
});

describe('grantElevation', () => {
  it('grants Ring 2 -> Ring 1 at eff-score 0.90 with an approver, expiring after the default 300 s', () => {
    expect(grant()).toEqual({
      elevationId: 'elev-1',
      agentDid: ALICE,
      fromRing: 2,
      toRing: 1,
      grantedAtMs: NOW,
      expiresAtMs: NOW + 300_000,
      ttlSeconds: 300,
      reason: 'rotate credentials',
      approvedBy: BOB,
      attestation: null,
    });
  });

  it('honours a requested ttl', () => {
    expect(grant({ ttlSeconds: 60 }).expiresAtMs).toBe(NOW + 60_000);
  });

  it('denies Ring 2 -> Ring 1 at eff-score 0.60 as insufficient_trust (the spec worked example)', () => {
    const { failure, details } = denial(() => grant({}, { effScore: 0.6 }));
    expect(details).toEqual({
      reason: ElevationDenialReason.insufficientTrust,
      agentDid: ALICE,
      currentRing: 2,
      targetRing: 1,
      effScore: 0.6,
      threshold: 0.85,
    });
    expect(failure.message.split('\n')).toEqual([
      'Ring elevation denied: Ring 2 (Standard) -> Ring 1 (Privileged)',
      `  Agent: ${ALICE}`,
      '  Reason: eff-score 0.60 is below the 0.85 required for Ring 1 (Privileged)',
      expect.stringMatching(/^ {2}Remediation: /),
    ]);
  });

  it('shows enough digits that a score just under the threshold does not print as the threshold', () => {
    const { failure } = denial(() => grant({}, { effScore: 0.849 }));
    expect(failure.message).toContain('eff-score 0.849 is below the 0.85');
  });

  it('fails closed on a score that is not a number', () => {
    expect(denial(() => grant({}, { effScore: Number.NaN })).details['reason']).toBe('insufficient_trust');
  });

  it('grants Ring 3 -> Ring 2 at the join threshold 0.60 without an approver, and denies 0.59', () => {
    const request = { targetRing: 2 as const, approvedBy: undefined };
    expect(grant(request, { baseRing: 3, effScore: 0.6 }).toRing).toBe(2);
    const { failure, details } = denial(() => grant(request, { baseRing: 3, effScore: 0.59 }));
    expect(details['reason']).toBe('insufficient_trust');
    expect(failure.message).toContain('Ring elevation denied: Ring 3 (Sandbox) -> Ring 2 (Standard)');
  });

  describe('denial reasons, in precedence order', () => {
    it('1. invalid_target beats every later check (same ring, low score, no approver)', () => {
      const { details, failure } = denial(() => grant({ approvedBy: undefined }, { baseRing: 1, effScore: 0.1 }));
      expect(details).toEqual({ reason: 'invalid_target', agentDid: ALICE, currentRing: 1, targetRing: 1 });
      expect(failure.message).toContain('Ring elevation denied: Ring 1 (Privileged) -> Ring 1 (Privileged)');
    });

    it('1. invalid_target for a less privileged target', () => {
      expect(denial(() => grant({ targetRing: 3 }, { baseRing: 2 })).details['reason']).toBe('invalid_target');
    });

    it('2. ring_0_requires_sre_witness without an attestation, even with low trust and no approver', () => {
      const { details, failure } = denial(() =>
        grant({ targetRing: 0, approvedBy: undefined }, { baseRing: 1, effScore: 0.1 }),
      );
      expect(details).toEqual({
        reason: 'ring_0_requires_sre_witness',
        agentDid: ALICE,
        currentRing: 1,
        targetRing: 0,
      });
      expect(failure.message).toContain('Ring 0 (Root) requires an SRE witness attestation');
    });

    it('2. ring_0_requires_sre_witness when the requester is its own witness', () => {
      const { details, failure } = denial(() =>
        grant({ targetRing: 0, attestation: { ...witness, witnessDid: ALICE } }, { baseRing: 1 }),
      );
      expect(details['reason']).toBe('ring_0_requires_sre_witness');
      expect(failure.message).toContain(`must be another agent, not ${ALICE}`);
    });

    it('3. duplicate_elevation while an elevation is active, checked before trust', () => {
      const active = grant({ targetRing: 2, approvedBy: undefined }, { baseRing: 3 });
      const { details, failure } = denial(() =>
        grant({}, { baseRing: 3, effScore: 0.1, active, nowMs: active.expiresAtMs - 1 }),
      );
      expect(details['reason']).toBe('duplicate_elevation');
      expect(failure.message).toContain('elev-1');
    });

    it('3. an expired elevation is no duplicate', () => {
      const active = grant({ targetRing: 2, approvedBy: undefined }, { baseRing: 3 });
      expect(grant({}, { baseRing: 3, active, nowMs: active.expiresAtMs }).toRing).toBe(1);
    });

    it('4. insufficient_trust before approval_required', () => {
      expect(denial(() => grant({ approvedBy: undefined }, { effScore: 0.5 })).details['reason']).toBe(
        'insufficient_trust',
      );
    });

    it('5. approval_required for Ring 1 without an approver', () => {
      const { details, failure } = denial(() => grant({ approvedBy: undefined }));
      expect(details).toEqual({ reason: 'approval_required', agentDid: ALICE, currentRing: 2, targetRing: 1 });
      expect(failure.message).toContain('requires approval by another agent');
    });

    it('5. approval_required when the requester approves itself', () => {
      const { details, failure } = denial(() => grant({ approvedBy: ALICE }));
      expect(details['reason']).toBe('approval_required');
      expect(failure.message).toContain('cannot approve its own elevation');
    });

    it('5. approval_required for Ring 0 with a witness but no approver', () => {
      const { details } = denial(() => grant({ targetRing: 0, attestation: witness, approvedBy: undefined }));
      expect(details['reason']).toBe('approval_required');
    });
  });

  it('grants Ring 0 with a distinct witness and approver and records the attestation', () => {
    const e = grant({ targetRing: 0, attestation: witness, ttlSeconds: 120 }, { baseRing: 1, effScore: 0.85 });
    expect(e).toMatchObject({
      fromRing: 1,
      toRing: 0,
      approvedBy: BOB,
      attestation: witness,
      expiresAtMs: NOW + 120_000,
    });
  });

  it('refuses an active elevation that belongs to another agent', () => {
    const other = { ...grant({ targetRing: 2, approvedBy: undefined }, { baseRing: 3 }), agentDid: BOB };
    try {
      grant({}, { active: other });
      expect.unreachable();
    } catch (err) {
      expect((err as ApplicationFailure).type).toBe(ErrorType.InvalidInput);
    }
  });

  it('does not mutate or alias its inputs', () => {
    const request = Object.freeze(
      parse({ agentDid: ALICE, targetRing: 0, reason: 'r', approvedBy: BOB, attestation: witness }),
    );
    Object.freeze(request.attestation);
    const snapshot = structuredClone(request);
    const e = grantElevation({ request, elevationId: 'e', baseRing: 1, effScore: 0.9, active: null, nowMs: NOW });
    expect(request).toEqual(snapshot);
    expect(e.attestation).not.toBe(request.attestation);
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });
});

describe('expiry', () => {
  const elevation = grant({ ttlSeconds: 10 });

  it('is active before expiresAtMs and expired at it', () => {
    expect(isElevationActive(elevation, elevation.expiresAtMs - 1)).toBe(true);
    expect(isElevationActive(elevation, elevation.expiresAtMs)).toBe(false);
  });

  it('effectiveRing is the elevated ring before expiry and the base ring at and after it', () => {
    expect(effectiveRing(2, elevation, NOW)).toBe(1);
    expect(effectiveRing(2, elevation, elevation.expiresAtMs - 1)).toBe(1);
    expect(effectiveRing(2, elevation, elevation.expiresAtMs)).toBe(2);
    expect(effectiveRing(2, elevation, elevation.expiresAtMs + 1)).toBe(2);
    expect(effectiveRing(3, null, NOW)).toBe(3);
  });

  it('effectiveRing never makes the agent less privileged than its base ring', () => {
    expect(effectiveRing(0, elevation, NOW)).toBe(0);
  });

  it('expiredElevations lists expired ones earliest first; nextElevationExpiry finds the earliest deadline', () => {
    const make = (id: string, agentDid: string, expiresAtMs: number): Elevation => ({
      ...elevation,
      elevationId: id,
      agentDid,
      expiresAtMs,
    });
    const all = {
      [ALICE]: make('e-a', ALICE, NOW + 3_000),
      [BOB]: make('e-b', BOB, NOW + 1_000),
      [SRE]: make('e-s', SRE, NOW + 2_000),
    };
    expect(nextElevationExpiry(all)).toBe(NOW + 1_000);
    expect(nextElevationExpiry({})).toBeNull();
    expect(expiredElevations(all, NOW + 999)).toEqual([]);
    expect(expiredElevations(all, NOW + 2_000).map((e) => e.elevationId)).toEqual(['e-b', 'e-s']);
    expect(expiredElevations(all, NOW + 5_000)).toHaveLength(3);
  });
});

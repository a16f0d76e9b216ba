import { describe, expect, it } from 'vitest';
import { ActionDescriptor, ActionManifest, RISK_WEIGHT, requiredRing } from '../../domain/actions.js';
import { ErrorType } from '../../domain/errors.js';
import { AgentDid } from '../../domain/identifiers.js';
import { childRingCap, ringFromEffScore } from '../../domain/rings.js';
import { SessionConfig } from '../../domain/session-config.js';
import { parseInput } from '../../domain/validation.js';

describe('rings from eff-score (strict thresholds)', () => {
  it.each([
    [0.3, false, 3],
    [0.6, false, 3],
    [0.601, false, 2],
    [0.7, false, 2],
    [0.85, false, 2],
    [0.95, true, 2],
    [0.96, false, 2],
    [0.96, true, 1],
    [1, true, 1],
  ] as const)('σ %s with consensus=%s → ring %s', (eff, consensus, ring) => {
    expect(ringFromEffScore(eff, consensus)).toBe(ring);
  });

  it('never derives ring 0, and caps a spawned agent at its parent ring + 1', () => {
    expect(ringFromEffScore(1, true)).toBe(1);
    expect([0, 1, 2, 3].map((r) => childRingCap(r as 0 | 1 | 2 | 3))).toEqual([1, 2, 3, 3]);
  });
});

describe('required ring of an action', () => {
  const parse = (input: unknown) => parseInput(ActionDescriptor, input, 'action');
  it('admin → 0, irreversible write → 1, read-only → 3, otherwise 2', () => {
    expect(requiredRing(parse({ actionId: 'a', name: 'a', isAdmin: true, isReadOnly: true }))).toBe(0);
    expect(requiredRing(parse({ actionId: 'a', name: 'a', reversibility: 'none' }))).toBe(1);
    expect(requiredRing(parse({ actionId: 'a', name: 'a', reversibility: 'none', isReadOnly: true }))).toBe(3);
    expect(requiredRing(parse({ actionId: 'a', name: 'a', reversibility: 'partial' }))).toBe(2);
    expect(requiredRing(parse({ actionId: 'a', name: 'a', reversibility: 'full' }))).toBe(2);
    expect(RISK_WEIGHT).toEqual({ full: 0.2, partial: 0.65, none: 0.95 });
  });

  it('is a pure function of the descriptor: two actions with the same id do not share a cached ring', () => {
    const readOnly = parse({ actionId: 'tool', name: 't', isReadOnly: true, reversibility: 'full' });
    const admin = parse({ actionId: 'tool', name: 't', isAdmin: true });
    expect([requiredRing(readOnly), requiredRing(admin)]).toEqual([3, 0]);
  });

  it('accepts reversibility as a JSON string and rejects bad descriptors with InvalidInput', () => {
    expect(parse({ actionId: 'a', name: 'a', reversibility: 'partial' }).reversibility).toBe('partial');
    for (const bad of [
      { actionId: 'a', name: '' },
      { actionId: 'a;DROP TABLE', name: 'x' },
      { actionId: 'a', name: 'x', undoApi: '' },
      { actionId: 'a', name: 'x', undoWindowSeconds: 86_401 },
      { actionId: 'a', name: 'x', reversibility: 'sometimes' },
      { actionId: 'a', name: 'x', isAdmin: 'yes' },
    ]) {
      expect(() => parse(bad)).toThrow(expect.objectContaining({ type: ErrorType.InvalidInput }));
    }
    expect(() =>
      parseInput(
        ActionManifest,
        [
          { actionId: 'a', name: 'a' },
          { actionId: 'a', name: 'b' },
        ],
        'manifest',
      ),
    ).toThrow(/duplicate actionId a/);
  });
});

describe('identifiers and session config', () => {
  it('accepts and rejects DIDs exactly as the reference grammar says', () => {
    for (const ok of ['a', 'did:mesh:a-1', 'a..b']) expect(AgentDid.safeParse(ok).success).toBe(true);
    for (const bad of ['a:', '-a', 'a@b', 'a b', 'ä', 'agent<script>', '../../../etc/passwd', 'x'.repeat(257), '']) {
      expect(AgentDid.safeParse(bad).success).toBe(false);
    }
  });

  it('applies the reference defaults and ranges, and refuses booleans as numbers and unknown keys', () => {
    expect(SessionConfig.parse({})).toMatchObject({
      consistencyMode: 'eventual',
      maxParticipants: 10,
      maxDurationSeconds: 3600,
      minEffScore: 0.6,
      enableAudit: true,
      enableBlockchainCommitment: false,
    });
    for (const bad of [
      { maxParticipants: 0 },
      { maxParticipants: 1001 },
      { maxDurationSeconds: 604_801 },
      { minEffScore: 1.01 },
      { maxParticipants: true },
      { extra: 1 },
      { maxParticipants: 2.5 },
    ]) {
      expect(SessionConfig.safeParse(bad).success).toBe(false);
    }
    expect(
      SessionConfig.safeParse({ maxParticipants: 1000, maxDurationSeconds: 604_800, minEffScore: 0 }).success,
    ).toBe(true);
  });
});

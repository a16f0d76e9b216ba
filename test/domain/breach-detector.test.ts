import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  BreachPolicy,
  DEFAULT_BREACH_POLICY,
  actionForSeverity,
  emptyBreachWindow,
  recordCall,
  ringDistanceWeight,
  severityForScore,
  type BreachWindow,
} from '../../domain/breach-detector.js';
import { ErrorType } from '../../domain/errors.js';
import type { Ring } from '../../domain/rings.js';

type Call = { nowMs: number; agentRing: Ring; requiredRing: Ring };
type Outcome = ReturnType<typeof recordCall>;

/** Records `calls` in order and returns the outcome of the last one. */
function replay(calls: Call[], policy: BreachPolicy = DEFAULT_BREACH_POLICY, start = emptyBreachWindow()): Outcome {
  let window: BreachWindow = start;
  let last: Outcome | undefined;
  for (const call of calls) {
    last = recordCall(window, call, policy);
    window = last.window;
  }
  if (!last) throw new Error('replay needs at least one call');
  return last;
}

const burst = (count: number, call: Call): Call[] => Array.from({ length: count }, () => call);
const sameRing = (nowMs: number): Call => ({ nowMs, agentRing: 2, requiredRing: 2 });

describe('breach policy', () => {
  it('defaults to the reference tuning', () => {
    expect(DEFAULT_BREACH_POLICY).toEqual({
      windowSeconds: 60,
      baselineRate: 10,
      minSpanSeconds: 1,
      maxEventsPerAgent: 1000,
      criticalAfterHighCalls: 25,
      onHigh: 'demote',
      onCritical: 'kill',
    });
  });

  it('rejects a zero window, a negative baseline, unknown keys and booleans as numbers', () => {
    expect(BreachPolicy.safeParse({ windowSeconds: 0 }).error?.issues[0]?.message).toBe(
      'windowSeconds must be greater than 0',
    );
    expect(BreachPolicy.safeParse({ windowSeconds: 3601 }).success).toBe(false);
    expect(BreachPolicy.safeParse({ baselineRate: -1 }).error?.issues[0]?.message).toBe(
      'baselineRate must be greater than 0',
    );
    expect(BreachPolicy.safeParse({ baselineRate: 10, extra: true }).success).toBe(false);
    expect(BreachPolicy.safeParse({ windowSeconds: true }).success).toBe(false);
    expect(BreachPolicy.safeParse({ maxEventsPerAgent: true }).success).toBe(false);
    expect(BreachPolicy.safeParse({ maxEventsPerAgent: 9 }).success).toBe(false);
    expect(BreachPolicy.safeParse({ maxEventsPerAgent: 100.5 }).success).toBe(false);
    expect(BreachPolicy.safeParse({ onHigh: 'explode' }).success).toBe(false);
  });
});

describe('breach scoring', () => {
  it('weighs same-ring and downward calls 1 and adds 1 per ring of upward reach', () => {
    expect(ringDistanceWeight(2, 2)).toBe(1);
    expect(ringDistanceWeight(0, 3)).toBe(1);
    expect(ringDistanceWeight(3, 2)).toBe(2);
    expect(ringDistanceWeight(3, 0)).toBe(4);
  });

  it('rejects a ring outside 0..3 with InvalidInput', () => {
    let failure: unknown;
    try {
      ringDistanceWeight(7 as Ring, 0);
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(ErrorType.InvalidInput);
  });

  it('maps scores to severities at the reference thresholds', () => {
    expect(severityForScore(1.99)).toBe('none');
    expect(severityForScore(2)).toBe('low');
    expect(severityForScore(5)).toBe('medium');
    expect(severityForScore(10)).toBe('high');
    expect(severityForScore(20)).toBe('critical');
    expect(severityForScore(NaN)).toBe('none');
  });

  it('maps high and critical through the policy and everything else to none', () => {
    const policy = BreachPolicy.parse({ onHigh: 'none', onCritical: 'demote' });
    expect(actionForSeverity('medium', DEFAULT_BREACH_POLICY)).toBe('none');
    expect(actionForSeverity('high', DEFAULT_BREACH_POLICY)).toBe('demote');
    expect(actionForSeverity('critical', DEFAULT_BREACH_POLICY)).toBe('kill');
    expect(actionForSeverity('high', policy)).toBe('none');
    expect(actionForSeverity('critical', policy)).toBe('demote');
  });
});

describe('recordCall', () => {
  it('does not flag two back-to-back same-ring calls (HEAD reads them as 2000/s)', () => {
    const outcome = replay([sameRing(1_000), sameRing(1_001)]);
    expect(outcome).toMatchObject({ weightedRate: 2, score: 0.2, callsInWindow: 2, severity: 'none', action: 'none' });
  });

  it.each([
    [20, 2, 'low', 'none'],
    [50, 5, 'medium', 'none'],
    [100, 10, 'high', 'demote'],
    [200, 20, 'critical', 'kill'],
  ] as const)('scores %i same-ring calls at one instant as %d (%s → %s)', (count, score, severity, action) => {
    const outcome = replay(burst(count, sameRing(5_000)));
    expect(outcome).toMatchObject({ score, weightedRate: count, callsInWindow: count, severity, action });
  });

  it('takes a ring-3 agent to critical with 50 simultaneous calls to ring-0 actions', () => {
    const outcome = replay(burst(50, { nowMs: 0, agentRing: 3, requiredRing: 0 }));
    expect(outcome).toMatchObject({ score: 20, severity: 'critical', action: 'kill' });
  });

  it('measures a sustained 100 calls/s over 30 s at its real rate despite the event cap', () => {
    const calls = Array.from({ length: 3_000 }, (_, i) => sameRing(i * 10));
    const outcome = replay(calls);
    expect(outcome.callsInWindow).toBe(1_000);
    expect(outcome.weightedRate).toBeCloseTo(100, 0);
    expect(outcome.score).toBeCloseTo(10, 1);
    expect(outcome).toMatchObject({ severity: 'high', action: 'demote' });
  });

  it('escalates HIGH to CRITICAL after 25 upward calls in a row, never for a same-ring flood', () => {
    // Ring 3 reaching for ring 0 (weight 4) at 40 calls/s: 160/s, score 16 — HIGH, below the CRITICAL score.
    const upward = Array.from({ length: 200 }, (_, i) => ({
      nowMs: i * 25,
      agentRing: 3 as const,
      requiredRing: 0 as const,
    }));
    let window = emptyBreachWindow();
    const severities: string[] = [];
    for (const call of upward) {
      const out = recordCall(window, call, DEFAULT_BREACH_POLICY);
      window = out.window;
      severities.push(out.severity);
    }
    const firstHigh = severities.indexOf('high');
    expect(firstHigh).toBeGreaterThan(0);
    expect(severities.indexOf('critical')).toBe(firstHigh + 24);
    // A call below HIGH resets the streak.
    const calm = recordCall(window, { nowMs: 200 * 25 + 60_000, agentRing: 3, requiredRing: 0 }, DEFAULT_BREACH_POLICY);
    expect(calm.window.highStreak).toBeUndefined();
    // Same ring at 100 calls/s: HIGH for as long as it lasts, never escalated.
    expect(replay(Array.from({ length: 3_000 }, (_, i) => sameRing(i * 10))).severity).toBe('high');
  });

  it('forgets events older than the window once the agent goes quiet', () => {
    const flood = replay(burst(200, sameRing(0)));
    expect(flood.severity).toBe('critical');
    const afterQuietMinute = recordCall(flood.window, sameRing(60_000), DEFAULT_BREACH_POLICY);
    expect(afterQuietMinute).toMatchObject({ callsInWindow: 1, score: 0.1, severity: 'none', action: 'none' });
  });

  it('does not let benign calls amplify a later upward call', () => {
    const benign = burst(19, sameRing(0));
    const outcome = replay([...benign, { nowMs: 0, agentRing: 3, requiredRing: 0 }]);
    // 19 × 1 + 1 × 4 = 23 per second; amplifying the whole window by the distance would give 20 × 3 / 10 = 6 (medium).
    expect(outcome.score).toBeCloseTo(2.3, 10);
    expect(outcome.severity).toBe('low');
  });

  it('respects onHigh and onCritical overrides', () => {
    const policy = BreachPolicy.parse({ onHigh: 'none', onCritical: 'demote' });
    expect(replay(burst(100, sameRing(0)), policy)).toMatchObject({ severity: 'high', action: 'none' });
    expect(replay(burst(200, sameRing(0)), policy)).toMatchObject({ severity: 'critical', action: 'demote' });
  });

  it('keeps at most maxEventsPerAgent events, dropping the oldest', () => {
    const policy = BreachPolicy.parse({ maxEventsPerAgent: 10 });
    const outcome = replay(
      Array.from({ length: 15 }, (_, i) => sameRing(i * 100)),
      policy,
    );
    expect(outcome.window.events.map(([atMs]) => atMs)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 5) * 100));
  });

  it('keeps events ordered when the clock goes backwards', () => {
    const outcome = replay([sameRing(10_000), sameRing(9_000)]);
    expect(outcome.window.events).toEqual([
      [10_000, 1],
      [10_000, 1],
    ]);
  });

  it('returns new JSON-safe state and leaves its input untouched', () => {
    const before = replay(burst(3, sameRing(0))).window;
    const snapshot = structuredClone(before);
    const after = recordCall(before, { nowMs: 500, agentRing: 3, requiredRing: 1 }, DEFAULT_BREACH_POLICY);
    expect(before).toEqual(snapshot);
    expect(after.window).not.toBe(before);
    expect(after.window.events.at(-1)).toEqual([500, 3]);
    expect(JSON.parse(JSON.stringify(after))).toEqual(after);
  });

  it('rejects a non-finite clock with InvalidInput', () => {
    expect(() => recordCall(emptyBreachWindow(), sameRing(NaN), DEFAULT_BREACH_POLICY)).toThrow(ApplicationFailure);
  });
});

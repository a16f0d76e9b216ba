import { describe, expect, it } from 'vitest';
import { ErrorType, hvErrorDetails } from '../../domain/errors.js';
import {
  BREAK_GLASS,
  type KillSwitchConfig,
  MAX_EVENTS,
  assertNotBlocked,
  isAnonymous,
  killSwitchView,
  newKillSwitch,
  operatorTrip,
  parseKillSwitchConfig,
  recordDecision,
  unblock,
  type KillSwitchState,
} from '../../domain/kill-switch.js';
import { deepFreeze, failureOf } from '../helpers/domain.js';

const AGENT = 'did:mesh:agent-a';

/** An armed switch with the reference defaults unless overridden. */
function armed(overrides: Partial<KillSwitchConfig> = {}, agentDid = AGENT): KillSwitchState {
  return newKillSwitch(agentDid, parseKillSwitchConfig({ enabled: true, ...overrides }));
}

interface Run {
  state: KillSwitchState;
  /** How many results reported `tripped: true`. */
  trippedCount: number;
  lastRate: number | null;
}

/** Records `kinds` in order, one per millisecond from `startMs` (all inside any window of at least 1 s). */
function record(state: KillSwitchState, kinds: readonly string[], startMs = 0): Run {
  let trippedCount = 0;
  let lastRate: number | null = null;
  kinds.forEach((kind, i) => {
    const result = recordDecision(deepFreeze(state), {
      kind,
      atMs: startMs + i,
      sessionId: 'sess-1',
      decisionId: `d-${i}`,
    });
    state = result.state;
    if (result.tripped) trippedCount++;
    lastRate = result.rate;
  });
  return { state, trippedCount, lastRate };
}

const times = (kind: string, n: number): string[] => Array.from({ length: n }, () => kind);

const operator = { reason: 'runaway agent', authorizedBy: 'oncall@example.com', atMs: 5_000 };

describe('kill switch evaluator (cMCP PR #347 cases)', () => {
  it('disabled_always_returns_false: 100 denies never trip a disabled switch', () => {
    const run = record(newKillSwitch(AGENT, parseKillSwitchConfig({})), times('deny', 100));
    expect(run.trippedCount).toBe(0);
    expect(run.state.blocked).toBeNull();
    // Still recorded, so the window is full when the switch is armed later.
    expect(run.state.events).toHaveLength(100);
  });

  it('below_min_calls_not_tripped: 5 denies < min_calls 10', () => {
    const run = record(armed(), times('deny', 5));
    expect(run.trippedCount).toBe(0);
    expect(run.lastRate).toBe(1);
    expect(run.state.blocked).toBeNull();
  });

  it('below_threshold_not_tripped: 4 denies out of 9 with min_calls 5', () => {
    const run = record(armed({ min_calls: 5 }), [...times('allow', 5), ...times('deny', 4)]);
    expect(run.trippedCount).toBe(0);
    expect(run.lastRate).toBeCloseTo(4 / 9);
  });

  it('at_threshold_is_tripped: 1 allow + 9 denies is exactly 0.9 and trips (>=)', () => {
    const run = record(armed(), ['allow', ...times('deny', 9)]);
    expect(run.trippedCount).toBe(1);
    expect(run.lastRate).toBe(0.9);
    expect(run.state.blocked?.trigger).toBe('deny_rate');
  });

  it('above_threshold_is_tripped: 10 denies', () => {
    const run = record(armed(), times('deny', 10));
    expect(run.trippedCount).toBe(1);
    expect(run.state.blocked).not.toBeNull();
  });

  it('is_blocked_after_tripped', () => {
    const run = record(armed(), times('deny', 10));
    expect(() => assertNotBlocked(run.state)).toThrow();
    expect(killSwitchView(run.state, 10).blocked).not.toBeNull();
  });

  it('is_not_blocked_before_trip', () => {
    const state = armed();
    expect(() => assertNotBlocked(state)).not.toThrow();
    expect(() => assertNotBlocked(record(state, times('deny', 9)).state)).not.toThrow();
  });

  it('unblock_clears_flag_and_events: the next decisions do not re-trip', () => {
    const tripped = record(armed(), times('deny', 10)).state;
    const { state, changed } = unblock(deepFreeze(tripped), operator);
    expect(changed).toBe(true);
    expect(state.blocked).toBeNull();
    expect(state.events).toEqual([]);
    expect(() => assertNotBlocked(state)).not.toThrow();
    const after = recordDecision(state, { kind: 'deny', atMs: 20 });
    expect(after.tripped).toBe(false);
    expect(killSwitchView(after.state, 20).windowCalls).toBe(1);
  });

  it('separate_agent_ids_are_independent', () => {
    const a = record(armed({}, 'did:mesh:a'), times('deny', 10)).state;
    const b = record(armed({}, 'did:mesh:b'), times('allow', 10)).state;
    expect(a.blocked).not.toBeNull();
    expect(b.blocked).toBeNull();
    expect(() => assertNotBlocked(b)).not.toThrow();
  });

  it('record_allowed_and_denied_accumulate: 5 allows then 20 denies = 0.8 trips at threshold 0.8', () => {
    const first = record(armed({ deny_rate_threshold: 0.8 }), times('allow', 5));
    expect(first.trippedCount).toBe(0);
    const second = record(first.state, times('deny', 20), 5);
    expect(second.trippedCount).toBe(1);
    const view = killSwitchView(second.state, 24);
    expect(view).toMatchObject({ windowCalls: 25, windowDenies: 20, rate: 0.8 });
    // It tripped at the crossing decision (20/25), not earlier: at 19/24 the rate is just under 0.8.
    expect(second.state.blocked?.decisionId).toBe('d-19');
  });

  it('window_expired_events_ignored: window 1 s, events 1001 ms apart do not add up', () => {
    let state = armed({ window_seconds: 1 });
    state = record(state, times('deny', 9), 0).state; // at 0..8 ms
    const result = recordDecision(state, { kind: 'deny', atMs: 1_009 }); // cutoff 9: everything before is gone
    expect(result.tripped).toBe(false);
    expect(result.state.events).toEqual([{ atMs: 1_009, denied: true }]);
    expect(killSwitchView(result.state, 1_009)).toMatchObject({ windowCalls: 1, windowDenies: 1, rate: 1 });
  });
});

describe('kill switch in the session lifecycle (cMCP PR #347 SessionManager cases)', () => {
  it('no_manifest_kill_switch_not_triggered: an anonymous identity is never counted', () => {
    const run = record(armed({}, ''), times('deny', 20));
    expect(run.trippedCount).toBe(0);
    expect(run.state.events).toEqual([]);
    expect(run.lastRate).toBeNull();
  });

  it('below_threshold_not_triggered: 3 allows / 2 denies with min_calls 5', () => {
    const run = record(armed({ min_calls: 5 }), ['allow', 'allow', 'allow', 'deny', 'deny']);
    expect(run.trippedCount).toBe(0);
    expect(run.lastRate).toBe(0.4);
  });

  it('at_threshold_triggered: min_calls 5, 5 denies', () => {
    const run = record(armed({ min_calls: 5 }), times('deny', 5));
    expect(run.trippedCount).toBe(1);
  });

  it('kill_switch_triggers_audit_entry: the block carries the break_glass_used reason', () => {
    const run = record(armed(), times('deny', 10));
    expect(run.state.blocked?.reason).toBe(BREAK_GLASS.triggered);
    expect(BREAK_GLASS).toEqual({
      triggered: 'kill_switch_triggered',
      unblocked: 'kill_switch_unblocked',
      operatorTrip: 'kill_switch_operator_trip',
    });
  });

  it('sets_state_flag: the block names the tripping session and decision', () => {
    const run = record(armed(), times('deny', 10), 100);
    expect(run.state.blocked).toEqual({
      atMs: 109,
      reason: 'kill_switch_triggered',
      trigger: 'deny_rate',
      authorizedBy: null,
      sessionId: 'sess-1',
      decisionId: 'd-9',
    });
    expect(run.state.trips).toBe(1);
  });

  it('create_session_rejected_after_kill_switch: assertNotBlocked throws KILL_SWITCH_TRIPPED', () => {
    const run = record(armed(), times('deny', 10));
    const failure = failureOf(() => assertNotBlocked(run.state));
    expect(failure.type).toBe(ErrorType.KillSwitchTripped);
    expect(failure.type).toBe('KILL_SWITCH_TRIPPED');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      `agent ${AGENT} has tripped the kill switch. Contact the platform operator to unblock.`,
    );
  });

  it('anonymous_never_blocked: threshold tiny and min_calls 1', () => {
    for (const did of ['', 'anonymous', 'anon:session-42']) {
      expect(isAnonymous(did)).toBe(true);
      const run = record(armed({ deny_rate_threshold: 0.0001, min_calls: 1 }, did), times('deny', 5));
      expect(run.trippedCount).toBe(0);
      expect(run.state.events).toEqual([]);
      expect(() => assertNotBlocked(run.state)).not.toThrow();
    }
    expect(isAnonymous(AGENT)).toBe(false);
    expect(isAnonymous('did:anon:x')).toBe(false);
  });

  it('disabled_never_triggers: explicit enabled false with tiny threshold', () => {
    const state = newKillSwitch(AGENT, parseKillSwitchConfig({ enabled: false, min_calls: 1 }));
    const run = record(state, times('deny', 50));
    expect(run.trippedCount).toBe(0);
    expect(killSwitchView(run.state, 49)).toMatchObject({ enabled: false, blocked: null, windowDenies: 50 });
  });

  it('error_carries_agent_id', () => {
    const run = record(armed(), times('deny', 10), 7);
    const details = hvErrorDetails(failureOf(() => assertNotBlocked(run.state)));
    expect(details).toMatchObject({ agentId: AGENT, blockedAtMs: 16, reason: 'kill_switch_triggered' });
  });

  it('advisory_deny_counts_toward_kill_switch: 1 allow + 4 deny + 5 advisory_deny trips', () => {
    const run = record(armed(), ['allow', ...times('deny', 4), ...times('advisory_deny', 5)]);
    expect(run.trippedCount).toBe(1);
    expect(run.lastRate).toBe(0.9);
  });
});

describe('kill switch: cases cMCP did not test', () => {
  it('threshold 1.0 trips only at 100 % denies', () => {
    const mixed = record(armed({ deny_rate_threshold: 1 }), ['allow', ...times('deny', 9)]);
    expect(mixed.trippedCount).toBe(0);
    const all = record(armed({ deny_rate_threshold: 1 }), times('deny', 10));
    expect(all.trippedCount).toBe(1);
  });

  it('keeps an event exactly at the window cutoff and drops one a millisecond older', () => {
    let state = armed({ window_seconds: 1, min_calls: 2, deny_rate_threshold: 1 });
    state = recordDecision(state, { kind: 'deny', atMs: 0 }).state;
    const atBoundary = recordDecision(state, { kind: 'deny', atMs: 1_000 }); // cutoff 0: the event at 0 stays
    expect(atBoundary.state.events).toHaveLength(2);
    expect(atBoundary.tripped).toBe(true);

    let other = armed({ window_seconds: 1, min_calls: 2, deny_rate_threshold: 1 });
    other = recordDecision(other, { kind: 'deny', atMs: 0 }).state;
    const past = recordDecision(other, { kind: 'deny', atMs: 1_001 });
    expect(past.state.events).toEqual([{ atMs: 1_001, denied: true }]);
    expect(past.tripped).toBe(false);

    expect(killSwitchView(atBoundary.state, 1_000).windowCalls).toBe(2);
    expect(killSwitchView(atBoundary.state, 1_001).windowCalls).toBe(1);
  });

  it('excludes fault, redact, step_up, defer and unknown kinds from both sides', () => {
    const base = record(armed(), ['allow', ...times('deny', 8)]).state; // 8/9, below min_calls
    for (const kind of ['fault', 'redact', 'step_up', 'defer', 'something_new', 'ALLOW', '']) {
      const result = recordDecision(deepFreeze(base), { kind, atMs: 50 });
      expect(result).toEqual({ state: base, tripped: false, counted: false, rate: null });
      expect(result.state).toBe(base);
    }
    const view = killSwitchView(base, 50);
    expect(view).toMatchObject({ windowCalls: 9, windowDenies: 8 });
    // Interleaved faults do not dilute the rate: 9 denies + 1 allow among 20 faults is still 0.9.
    const run = record(armed(), ['allow', ...times('fault', 10), ...times('deny', 9), ...times('redact', 10)]);
    expect(run.trippedCount).toBe(1);
    expect(run.state.events).toHaveLength(10);
  });

  it('re-trips idempotently: one tripped result, trips stays 1, later decisions still counted', () => {
    const run = record(armed(), times('deny', 30));
    expect(run.trippedCount).toBe(1);
    expect(run.state.trips).toBe(1);
    expect(run.state.blocked?.decisionId).toBe('d-9');
    expect(run.state.events).toHaveLength(30);
    const later = recordDecision(run.state, { kind: 'deny', atMs: 100, decisionId: 'later' });
    expect(later).toMatchObject({ tripped: false, counted: true });
    expect(later.state.blocked?.decisionId).toBe('d-9');
  });

  it('keeps the block when the window empties: only unblock lifts it', () => {
    const tripped = record(armed({ window_seconds: 1 }), times('deny', 10)).state;
    const later = recordDecision(tripped, { kind: 'allow', atMs: 60_000 });
    expect(later.state.events).toHaveLength(1);
    expect(() => assertNotBlocked(later.state)).toThrow();
  });

  it('trips again after an unblock, counting a second trip', () => {
    const first = record(armed(), times('deny', 10)).state;
    const cleared = unblock(first, operator).state;
    const second = record(cleared, times('deny', 10), 6_000);
    expect(second.trippedCount).toBe(1);
    expect(second.state.trips).toBe(2);
  });

  it('treats a clock that goes backwards as no elapsed time', () => {
    let state = armed({ window_seconds: 1 });
    state = recordDecision(state, { kind: 'deny', atMs: 5_000 }).state;
    state = recordDecision(state, { kind: 'deny', atMs: 1_000 }).state;
    expect(state.events).toEqual([
      { atMs: 5_000, denied: true },
      { atMs: 5_000, denied: true },
    ]);
  });

  it('rejects a non-finite atMs', () => {
    for (const atMs of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(failureOf(() => recordDecision(armed(), { kind: 'deny', atMs })).type).toBe(ErrorType.InvalidInput);
      expect(failureOf(() => killSwitchView(armed(), atMs)).type).toBe(ErrorType.InvalidInput);
    }
  });

  it('caps stored events at MAX_EVENTS, dropping the oldest', () => {
    expect(MAX_EVENTS).toBe(10_000);
    // Disabled and all in one instant: nothing is pruned by the window, so only the cap bounds the list.
    let state = newKillSwitch(AGENT, parseKillSwitchConfig({}));
    state = { ...state, events: Array.from({ length: MAX_EVENTS - 1 }, () => ({ atMs: 0, denied: false })) };
    for (let i = 0; i < 6; i++) state = recordDecision(state, { kind: 'deny', atMs: 0 }).state;
    expect(state.events.filter((event) => event.denied)).toHaveLength(6);
    expect(state.events).toHaveLength(MAX_EVENTS);
    expect(state.events.slice(-6).every((event) => event.denied)).toBe(true);
  });

  it('is JSON-serialisable', () => {
    const state = record(armed(), times('deny', 10)).state;
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});

describe('operator trip', () => {
  it('blocks with the operator reason and is idempotent', () => {
    const state = record(armed(), times('allow', 3)).state;
    const first = operatorTrip(deepFreeze(state), operator);
    expect(first.changed).toBe(true);
    expect(first.state.blocked).toEqual({
      atMs: 5_000,
      reason: 'runaway agent',
      trigger: 'operator',
      authorizedBy: 'oncall@example.com',
      sessionId: null,
      decisionId: null,
    });
    expect(first.state.trips).toBe(1);
    expect(first.state.events).toHaveLength(3);

    const again = operatorTrip(first.state, { reason: 'second', authorizedBy: 'someone-else', atMs: 9_000 });
    expect(again.changed).toBe(false);
    expect(again.state).toBe(first.state);
    expect(hvErrorDetails(failureOf(() => assertNotBlocked(again.state)))).toMatchObject({
      reason: 'runaway agent',
      blockedAtMs: 5_000,
    });
  });

  it('keeps a deny-rate block when an operator trips afterwards', () => {
    const tripped = record(armed(), times('deny', 10)).state;
    const again = operatorTrip(tripped, operator);
    expect(again.changed).toBe(false);
    expect(again.state.blocked?.trigger).toBe('deny_rate');
    expect(again.state.trips).toBe(1);
  });

  it('requires a non-empty reason and authorizedBy', () => {
    const state = armed();
    for (const bad of [
      { ...operator, reason: '' },
      { ...operator, reason: '   ' },
      { ...operator, authorizedBy: '' },
      { reason: 'x', atMs: 0 },
      { authorizedBy: 'x', atMs: 0 },
      { ...operator, atMs: Number.NaN },
    ]) {
      const failure = failureOf(() => operatorTrip(state, bad as typeof operator));
      expect(failure.type).toBe(ErrorType.InvalidInput);
    }
    expect(failureOf(() => operatorTrip(state, { ...operator, reason: '' })).message).toContain('reason');
    expect(failureOf(() => operatorTrip(state, { ...operator, authorizedBy: '' })).message).toContain('authorizedBy');
  });

  it('refuses a disabled switch with KILL_SWITCH_DISABLED', () => {
    const failure = failureOf(() => operatorTrip(newKillSwitch(AGENT, parseKillSwitchConfig({})), operator));
    expect(failure.type).toBe(ErrorType.IllegalTransition);
    expect(hvErrorDetails(failure)).toMatchObject({ code: 'KILL_SWITCH_DISABLED', agentId: AGENT });
  });

  it('refuses an anonymous identity with NO_AGENT_IDENTITY', () => {
    const failure = failureOf(() => operatorTrip(armed({}, 'anonymous'), operator));
    expect(failure.type).toBe(ErrorType.IllegalTransition);
    expect(hvErrorDetails(failure)).toMatchObject({ code: 'NO_AGENT_IDENTITY' });
  });
});

describe('unblock', () => {
  it('throws NotFound NOT_BLOCKED when there is no block', () => {
    const failure = failureOf(() => unblock(armed(), operator));
    expect(failure.type).toBe(ErrorType.NotFound);
    expect(hvErrorDetails(failure)).toMatchObject({ code: 'NOT_BLOCKED', agentId: AGENT });
  });

  it('requires reason and authorizedBy, even when blocked', () => {
    const tripped = record(armed(), times('deny', 10)).state;
    expect(failureOf(() => unblock(tripped, { ...operator, reason: '' })).type).toBe(ErrorType.InvalidInput);
    expect(failureOf(() => unblock(tripped, { ...operator, authorizedBy: ' ' })).type).toBe(ErrorType.InvalidInput);
  });

  it('clears the events so the identity starts again below min_calls, and keeps the trip count', () => {
    const tripped = record(armed(), times('deny', 25)).state;
    const { state } = unblock(tripped, operator);
    expect(state.events).toEqual([]);
    expect(state.trips).toBe(1);
    const nine = record(state, times('deny', 9), 6_000);
    expect(nine.trippedCount).toBe(0);
  });

  it('works on an operator trip', () => {
    const tripped = operatorTrip(armed(), operator).state;
    expect(unblock(tripped, operator).state.blocked).toBeNull();
  });
});

describe('kill switch config', () => {
  it('defaults to disabled, 300 s, 0.9, 10 calls; null and undefined mean {}', () => {
    const defaults = { enabled: false, window_seconds: 300, deny_rate_threshold: 0.9, min_calls: 10 };
    expect(parseKillSwitchConfig({})).toEqual(defaults);
    expect(parseKillSwitchConfig(null)).toEqual(defaults);
    expect(parseKillSwitchConfig(undefined)).toEqual(defaults);
  });

  it('accepts valid values, including threshold 1 and an integer threshold', () => {
    expect(parseKillSwitchConfig({ enabled: true, window_seconds: 1, deny_rate_threshold: 1, min_calls: 1 })).toEqual({
      enabled: true,
      window_seconds: 1,
      deny_rate_threshold: 1,
      min_calls: 1,
    });
  });

  it('rejects booleans as numbers', () => {
    for (const bad of [{ window_seconds: true }, { min_calls: true }, { deny_rate_threshold: true }]) {
      expect(failureOf(() => parseKillSwitchConfig(bad)).type).toBe(ErrorType.InvalidInput);
    }
    expect(failureOf(() => parseKillSwitchConfig({ enabled: 1 })).type).toBe(ErrorType.InvalidInput);
  });

  it('rejects thresholds outside (0, 1]', () => {
    for (const threshold of [0, -0.1, 1.0001, 2, Number.NaN]) {
      const failure = failureOf(() => parseKillSwitchConfig({ deny_rate_threshold: threshold }));
      expect(failure.type).toBe(ErrorType.InvalidInput);
      expect(failure.message).toContain('deny_rate_threshold');
    }
  });

  it('rejects non-positive or fractional window_seconds and min_calls', () => {
    for (const bad of [{ window_seconds: 0 }, { window_seconds: 1.5 }, { min_calls: 0 }, { min_calls: -3 }]) {
      expect(failureOf(() => parseKillSwitchConfig(bad)).type).toBe(ErrorType.InvalidInput);
    }
  });

  it('rejects an unknown key, listing the valid keys', () => {
    const failure = failureOf(() => parseKillSwitchConfig({ enabled: true, threshold: 0.5 }));
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toContain("'threshold'");
    expect(failure.message).toContain('Valid keys: [enabled, window_seconds, deny_rate_threshold, min_calls]');
  });

  it('rejects a non-object', () => {
    for (const bad of ['on', 5, [], true]) {
      expect(failureOf(() => parseKillSwitchConfig(bad)).type).toBe(ErrorType.InvalidInput);
    }
  });

  it('re-validates a hand-built config in newKillSwitch (cMCP tests bypassed validation)', () => {
    const bad = { enabled: true, window_seconds: 300, deny_rate_threshold: 0, min_calls: 10 };
    expect(failureOf(() => newKillSwitch(AGENT, bad)).type).toBe(ErrorType.InvalidInput);
  });

  it('shows the view of a fresh switch', () => {
    expect(killSwitchView(armed(), 0)).toEqual({
      agentDid: AGENT,
      enabled: true,
      blocked: null,
      windowCalls: 0,
      windowDenies: 0,
      rate: null,
      config: { enabled: true, window_seconds: 300, deny_rate_threshold: 0.9, min_calls: 10 },
    });
  });
});

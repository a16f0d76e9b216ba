import { z } from 'zod';
import { ErrorType, hvError } from './errors.js';
import { Ring } from './rings.js';

export const BreachSeverity = z.enum(['none', 'low', 'medium', 'high', 'critical']);
export type BreachSeverity = z.infer<typeof BreachSeverity>;

export const BreachAction = z.enum(['none', 'demote', 'kill']);
export type BreachAction = z.infer<typeof BreachAction>;

export const MAX_BREACH_WINDOW_SECONDS = 3600;
export const MIN_BREACH_EVENTS_PER_AGENT = 10;
export const MAX_BREACH_EVENTS_PER_AGENT = 10_000;

const positive = (field: string) =>
  z.number({ error: `${field} must be a finite number` }).positive(`${field} must be greater than 0`);

/**
 * Tuning of the breach detector. Defaults follow the reference constructor; `minSpanSeconds` is new and keeps a
 * handful of simultaneous calls from reading as an enormous rate. Booleans are not accepted as numbers.
 */
export const BreachPolicy = z
  .object({
    windowSeconds: positive('windowSeconds')
      .max(MAX_BREACH_WINDOW_SECONDS, `windowSeconds must not exceed ${MAX_BREACH_WINDOW_SECONDS} (1 hour)`)
      .default(60),
    baselineRate: positive('baselineRate').default(10),
    minSpanSeconds: positive('minSpanSeconds').default(1),
    maxEventsPerAgent: z
      .number({ error: 'maxEventsPerAgent must be a finite number' })
      .int('maxEventsPerAgent must be an integer')
      .min(MIN_BREACH_EVENTS_PER_AGENT, `maxEventsPerAgent must be at least ${MIN_BREACH_EVENTS_PER_AGENT}`)
      .max(MAX_BREACH_EVENTS_PER_AGENT, `maxEventsPerAgent must not exceed ${MAX_BREACH_EVENTS_PER_AGENT}`)
      .default(1000),
    /**
     * Consecutive upward calls scoring HIGH after which the agent is treated as CRITICAL: a demoted agent that keeps
     * reaching up at the rate a real server serves it (tens of calls a second) is escalating, even if it never reaches
     * the CRITICAL score.
     */
    criticalAfterHighCalls: z
      .number({ error: 'criticalAfterHighCalls must be a finite number' })
      .int('criticalAfterHighCalls must be an integer')
      .min(1, 'criticalAfterHighCalls must be at least 1')
      .max(MAX_BREACH_EVENTS_PER_AGENT, `criticalAfterHighCalls must not exceed ${MAX_BREACH_EVENTS_PER_AGENT}`)
      .default(25),
    onHigh: BreachAction.default('demote'),
    onCritical: BreachAction.default('kill'),
  })
  .strict();
export type BreachPolicy = z.infer<typeof BreachPolicy>;
export type BreachPolicyInput = z.input<typeof BreachPolicy>;

export const DEFAULT_BREACH_POLICY: BreachPolicy = BreachPolicy.parse({});

/** Score thresholds, highest first; a score at or above a threshold earns its severity (docs/DESIGN.md §R3). */
export const SEVERITY_THRESHOLDS = [
  [20, 'critical'],
  [10, 'high'],
  [5, 'medium'],
  [2, 'low'],
] as const satisfies ReadonlyArray<readonly [number, BreachSeverity]>;

/**
 * One agent's recent calls as `[atMs, weight]` tuples, oldest first, at most `maxEventsPerAgent` of them. Tuples rather
 * than objects keep the state compact through continue-as-new.
 */
export interface BreachWindow {
  events: Array<[atMs: number, weight: number]>;
  /** Consecutive calls that scored HIGH, up to this one (absent in state carried from before). */
  highStreak?: number;
}

export const emptyBreachWindow = (): BreachWindow => ({ events: [] });

/**
 * How much one call counts: 1 for a same-ring or downward call, plus 1 for each ring of upward reach (ring 3 calling a
 * ring-0 action weighs 4). Downward calls are not escalations, so they never weigh more than same-ring ones (W-BR-2).
 */
export function ringDistanceWeight(agentRing: Ring, requiredRing: Ring): number {
  if (!Ring.safeParse(agentRing).success || !Ring.safeParse(requiredRing).success) {
    throw hvError(ErrorType.InvalidInput, 'agentRing and requiredRing must be 0, 1, 2 or 3', {
      agentRing: String(agentRing),
      requiredRing: String(requiredRing),
    });
  }
  return 1 + Math.max(0, agentRing - requiredRing);
}

/** The severity a score earns under {@link SEVERITY_THRESHOLDS}; below 2 (or `NaN`) is `none`. */
export function severityForScore(score: number): BreachSeverity {
  for (const [threshold, severity] of SEVERITY_THRESHOLDS) {
    if (score >= threshold) return severity;
  }
  return 'none';
}

/** What the session should do about a breach: `high` and `critical` map through the policy, anything lower is `none`. */
export function actionForSeverity(severity: BreachSeverity, policy: BreachPolicy): BreachAction {
  if (severity === 'critical') return policy.onCritical;
  if (severity === 'high') return policy.onHigh;
  return 'none';
}

/**
 * Records one call and scores the agent's recent behaviour. `policy` must already be parsed by {@link BreachPolicy}.
 *
 * `weightedRate` is the summed weight of the retained events divided by their own span (oldest event to now), floored
 * at `minSpanSeconds`; `score = weightedRate / baselineRate`. Dividing by the span of what is retained, not by the
 * whole window, measures a flood at its real rate even when the event cap trims it (the reference saturates at
 * cap/window and can never trip with defaults, W-BR-1); the floor keeps two calls at the same instant at 2/s instead
 * of HEAD's 2000/s. Each event carries its own ring-distance weight, so benign calls in the window do not get
 * amplified by a later escalation (W-BR-3). A HIGH score sustained over `criticalAfterHighCalls` consecutive upward
 * calls is CRITICAL. The returned window is new; the input is not modified and the stored values are never rounded.
 */
export function recordCall(
  window: BreachWindow,
  call: { nowMs: number; agentRing: Ring; requiredRing: Ring },
  policy: BreachPolicy,
): {
  window: BreachWindow;
  score: number;
  weightedRate: number;
  callsInWindow: number;
  severity: BreachSeverity;
  action: BreachAction;
} {
  if (!Number.isFinite(call.nowMs)) {
    throw hvError(ErrorType.InvalidInput, `nowMs must be a finite number, got ${String(call.nowMs)}`, {});
  }
  const weight = ringDistanceWeight(call.agentRing, call.requiredRing);
  // A clock behind the newest event is clamped to it, so events stay ordered and the oldest is always first.
  const atMs = Math.max(call.nowMs, window.events.at(-1)?.[0] ?? call.nowMs);
  const cutoffMs = atMs - policy.windowSeconds * 1000;
  const latest: [number, number] = [atMs, weight];
  const events = [...window.events, latest]
    .filter(([eventAtMs]) => eventAtMs > cutoffMs)
    .slice(-policy.maxEventsPerAgent);
  const oldestAtMs = events[0]?.[0] ?? atMs;
  const totalWeight = events.reduce((sum, [, eventWeight]) => sum + eventWeight, 0);
  const weightedRate = totalWeight / Math.max((atMs - oldestAtMs) / 1000, policy.minSpanSeconds);
  const score = weightedRate / policy.baselineRate;
  const scored = severityForScore(score);
  // Only upward calls escalate: a same-ring flood stays HIGH (the rate limiter's business).
  const streak = window.highStreak ?? 0;
  const highStreak = scored !== 'high' ? 0 : weight > 1 ? streak + 1 : streak;
  const severity = highStreak >= policy.criticalAfterHighCalls ? 'critical' : scored;
  return {
    window: highStreak > 0 ? { events, highStreak } : { events },
    score,
    weightedRate,
    callsInWindow: events.length,
    severity,
    action: actionForSeverity(severity, policy),
  };
}

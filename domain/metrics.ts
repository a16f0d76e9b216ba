/**
 * Which governance metrics an event counts in (docs/DESIGN.md §9). Pure: the workflows hand every event they record
 * to {@link sessionEventMetrics} or {@link sagaEventMetrics} and add one to each counter named. Every label value is
 * from a closed set (a ring, an enum member, or `other`), never a DID, session id or free text, so the series stay
 * bounded whatever agents do.
 */
import { KillReason, QuarantineReason } from './session-types.js';

export const GovernanceCounter = {
  decisions: 'hypervisor_decisions_total',
  ringTransitions: 'hypervisor_ring_transitions_total',
  breaches: 'hypervisor_breaches_total',
  kills: 'hypervisor_kills_total',
  quarantines: 'hypervisor_quarantines_total',
  vouches: 'hypervisor_vouches_total',
  slashes: 'hypervisor_slashes_total',
  sessionsStarted: 'hypervisor_sessions_started_total',
  sessionsClosed: 'hypervisor_sessions_closed_total',
  auditRecorded: 'hypervisor_audit_recorded_entries_total',
  killSwitch: 'hypervisor_kill_switch_events_total',
  sagasStarted: 'hypervisor_sagas_started_total',
  sagasEnded: 'hypervisor_sagas_ended_total',
  stepsStarted: 'hypervisor_saga_steps_started_total',
  stepOutcomes: 'hypervisor_saga_step_outcomes_total',
  compensations: 'hypervisor_saga_compensations_total',
} as const;
export type GovernanceCounter = (typeof GovernanceCounter)[keyof typeof GovernanceCounter];

/** One increment of one counter, with its labels. */
export interface CounterHit {
  counter: GovernanceCounter;
  labels: Record<string, string>;
}

const DECISION_REASONS = [
  'allowed',
  'unknown_action',
  'ring_violation',
  'rate_limited',
  'agent_killed',
  'agent_left',
  'ring_breach',
];
const SEVERITIES = ['low', 'medium', 'high', 'critical'];
/** The closed sets of the session's own schemas: a reason they do not know is counted as `other`. */
const KILL_REASONS: readonly string[] = KillReason.options;
const QUARANTINE_REASONS: readonly string[] = QuarantineReason.options;

/** `value` when it is one of `allowed`, else `other`: a label never carries what a caller made up. */
const oneOf = (value: unknown, allowed: readonly string[]): string =>
  typeof value === 'string' && allowed.includes(value) ? value : 'other';
const ringLabel = (value: unknown): string =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 3 ? String(value) : 'none';

const hit = (counter: GovernanceCounter, labels: Record<string, string> = {}): CounterHit => ({ counter, labels });

/** The counters one session event counts in (the audit-recorded counter is the caller's: it knows what it chained). */
export function sessionEventMetrics(kind: string, payload: unknown): CounterHit[] {
  const p = (payload ?? {}) as Record<string, unknown>;
  switch (kind) {
    case 'decision':
      return [
        hit(GovernanceCounter.decisions, {
          outcome: p.allowed === true ? 'allow' : 'deny',
          reason: oneOf(p.reason, DECISION_REASONS),
          ring: ringLabel(p.effectiveRing),
        }),
      ];
    case 'join':
    case 'rejoin':
      return [hit(GovernanceCounter.ringTransitions, { transition: 'join', ring: ringLabel(p.ring) })];
    case 'ring_changed': {
      // A higher ring number is less privilege: moving up the numbers is a demotion.
      const down = typeof p.from === 'number' && typeof p.to === 'number' && p.to > p.from;
      return [
        hit(GovernanceCounter.ringTransitions, { transition: down ? 'demotion' : 'elevation', ring: ringLabel(p.to) }),
      ];
    }
    case 'elevation_granted':
      return [hit(GovernanceCounter.ringTransitions, { transition: 'elevation', ring: ringLabel(p.toRing) })];
    case 'elevation_expired':
      return [hit(GovernanceCounter.ringTransitions, { transition: 'expiry', ring: 'none' })];
    case 'breach':
      return [hit(GovernanceCounter.breaches, { severity: oneOf(p.severity, SEVERITIES) })];
    case 'kill':
      return [hit(GovernanceCounter.kills, { reason: oneOf(p.reason, KILL_REASONS) })];
    case 'quarantine':
      return [hit(GovernanceCounter.quarantines, { reason: oneOf(p.reason, QUARANTINE_REASONS) })];
    case 'vouch':
      return [hit(GovernanceCounter.vouches)];
    case 'slash':
      return [hit(GovernanceCounter.slashes)];
    case 'session_created':
      return [hit(GovernanceCounter.sessionsStarted)];
    case 'session_archived':
      return [hit(GovernanceCounter.sessionsClosed)];
    default:
      return [];
  }
}

const STEP_OUTCOMES: Record<string, string> = {
  saga_step_committed: 'committed',
  saga_step_failed: 'failed',
  saga_step_cancelled: 'cancelled',
  saga_step_skipped: 'skipped',
  saga_step_reassigned: 'reassigned',
};
const SAGA_ENDINGS: Record<string, string> = {
  saga_completed: 'completed',
  saga_compensated: 'compensated',
  saga_escalated: 'escalated',
  saga_failed: 'failed',
};

/**
 * The counters one saga event counts in. A step's retries are attempts of one activity, counted by the worker's
 * activity interceptor (`hypervisor_activity_calls_total{activity="runSagaStep"}`), not here.
 */
export function sagaEventMetrics(kind: string): CounterHit[] {
  if (kind === 'saga_started') return [hit(GovernanceCounter.sagasStarted)];
  if (kind === 'saga_step_started') return [hit(GovernanceCounter.stepsStarted)];
  if (kind === 'saga_step_compensated') return [hit(GovernanceCounter.compensations, { outcome: 'compensated' })];
  if (kind === 'saga_step_compensation_failed') return [hit(GovernanceCounter.compensations, { outcome: 'failed' })];
  const step = STEP_OUTCOMES[kind];
  if (step) return [hit(GovernanceCounter.stepOutcomes, { outcome: step })];
  const ending = SAGA_ENDINGS[kind];
  if (ending) return [hit(GovernanceCounter.sagasEnded, { status: ending })];
  return [];
}

/** A kill-switch notice of an agent identity: trips and unblocks count, by trigger (`deny_rate` or `operator`). */
export function killSwitchMetrics(event: string, trigger: string): CounterHit[] {
  if (event !== 'tripped' && event !== 'unblocked') return [];
  return [hit(GovernanceCounter.killSwitch, { event, trigger: oneOf(trigger, ['deny_rate', 'operator']) })];
}

/**
 * The values of a few closed sets, as plain arrays with no zod: the schemas in session-types.ts and intent-locks.ts
 * are built from them, and the `hv` CLI offers them as option choices without loading zod at start (`hv --help`).
 */
export const KILL_REASONS = [
  'behavioral_drift',
  'rate_limit',
  'ring_breach',
  'manual',
  'quarantine_timeout',
  'session_timeout',
] as const;

export const QUARANTINE_REASONS = [
  'behavioral_drift',
  'liability_violation',
  'ring_breach',
  'rate_limit_exceeded',
  'manual',
  'cascade_slash',
] as const;

/** What happens to a quarantined agent when its quarantine times out. */
export const QUARANTINE_ON_TIMEOUT = ['release', 'kill'] as const;

export const LOCK_INTENTS = ['read', 'write', 'exclusive'] as const;

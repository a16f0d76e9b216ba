import { z } from 'zod';
import { BreachPolicy } from './breach-detector.js';
import { AgentDid } from './identifiers.js';
import { LiabilityPolicy } from './liability.js';
import { RingRateLimitsOverride } from './token-bucket.js';

/** Reference limits (docs/DESIGN.md §R1): capacity 1–1000, duration up to 7 days. */
export const MAX_PARTICIPANTS_LIMIT = 1000;
export const MAX_DURATION_SECONDS_LIMIT = 604_800;

export const ConsistencyMode = z.enum(['strong', 'eventual']);
export type ConsistencyMode = z.infer<typeof ConsistencyMode>;

/**
 * Session configuration. Ranges and defaults follow the reference `SessionConfig`, but booleans are not accepted as
 * numbers (the reference lets `True` pass its int checks) and unknown keys are refused (a typo is not silently ignored).
 */
export const SessionConfig = z
  .object({
    consistencyMode: ConsistencyMode.default('eventual'),
    maxParticipants: z
      .number()
      .int('maxParticipants must be an integer')
      .min(1, 'maxParticipants must be at least 1')
      .max(MAX_PARTICIPANTS_LIMIT, `maxParticipants must not exceed ${MAX_PARTICIPANTS_LIMIT}`)
      .default(10),
    maxDurationSeconds: z
      .number()
      .int('maxDurationSeconds must be an integer')
      .min(1, 'maxDurationSeconds must be at least 1')
      .max(MAX_DURATION_SECONDS_LIMIT, `maxDurationSeconds must not exceed ${MAX_DURATION_SECONDS_LIMIT} (7 days)`)
      .default(3600),
    minEffScore: z
      .number()
      .min(0, 'minEffScore must be between 0.0 and 1.0')
      .max(1, 'minEffScore must be between 0.0 and 1.0')
      .default(0.6),
    /** false: allowed decisions are not chained (denials and every governance change still are). */
    enableAudit: z.boolean().default(true),
    enableBlockchainCommitment: z.boolean().default(false),
    /** Below `minEffScore`, admit to the read-only sandbox (ring 3) instead of rejecting. */
    allowSandboxJoins: z.boolean().default(true),
    /** Operators may approve ring-1 joins when the session has no ring ≤ 1 participant. The creator always may. */
    operators: z.array(AgentDid).max(32).default([]),
    /** Per-ring token buckets; rings left out keep their defaults. */
    rateLimits: RingRateLimitsOverride.optional(),
    breachPolicy: BreachPolicy.prefault({}),
    /** Joint liability: risk weight ω, bond share, exposure cap, cascade depth (docs/DESIGN.md §R6). */
    liability: LiabilityPolicy.prefault({}),
    /**
     * Agents that take over a killed agent's in-flight saga steps when the kill names no substitute: the first that is
     * active, not quarantined and at a ring at least as privileged as the killed agent's.
     */
    substitutes: z.array(AgentDid).max(32).default([]),
    /** Which faults slash the culprit (and cascade to its sponsors). */
    slashOn: z
      .array(z.enum(['saga_escalated', 'ring_breach', 'kill']))
      .max(3)
      .default(['saga_escalated', 'ring_breach']),
  })
  .strict();
export type SessionConfig = z.infer<typeof SessionConfig>;
export type SessionConfigInput = z.input<typeof SessionConfig>;

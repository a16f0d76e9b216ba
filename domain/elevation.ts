import { z } from 'zod';
import { ErrorType, hvError } from './errors.js';
import { AgentDid } from './identifiers.js';
import { RING_LABELS, Ring } from './rings.js';

/**
 * Ring elevation: sudo with a TTL (docs/DESIGN.md §R4, with the trust gate of the reference's later line).
 *
 * Unlike the reference, every rule is enforced here rather than described: Ring 0 needs an SRE witness other than the
 * requester, Rings 0 and 1 need an approver other than the requester, Ring 2's trust threshold is not below the join
 * threshold, and the eff-score is an argument the session workflow computes, never a number the caller supplies.
 */

export const ELEVATION_DEFAULT_TTL_SECONDS = 300;
export const ELEVATION_MAX_TTL_SECONDS = 3600;

/**
 * Minimum eff-score to be elevated into a ring. Ring 2's threshold equals the join threshold (0.60) — HEAD's 0.50
 * would let elevation undercut joining.
 */
export const ELEVATION_TRUST_THRESHOLDS = { 0: 0.85, 1: 0.85, 2: 0.6 } as const;

/** A statement by a second agent acting as SRE witness; required for Ring 0, recorded with the elevation. */
export const Attestation = z
  .object({
    kind: z.literal('sre-witness'),
    witnessDid: AgentDid,
    statement: z.string().min(1).max(1024),
    ticket: z.string().max(256).optional(),
  })
  .strict();
export type Attestation = z.infer<typeof Attestation>;

export const ElevationRequest = z
  .object({
    agentDid: AgentDid,
    targetRing: Ring,
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(ELEVATION_MAX_TTL_SECONDS, `ttlSeconds must not exceed ${ELEVATION_MAX_TTL_SECONDS} (1 hour)`)
      .default(ELEVATION_DEFAULT_TTL_SECONDS),
    reason: z.string().trim().min(1).max(512),
    approvedBy: AgentDid.optional(),
    attestation: Attestation.optional(),
  })
  .strict();
export type ElevationRequest = z.infer<typeof ElevationRequest>;
export type ElevationRequestInput = z.input<typeof ElevationRequest>;

/** The `reason` in an `ElevationDenied` failure's details, in the order the checks run. */
export const ElevationDenialReason = {
  invalidTarget: 'invalid_target',
  ring0RequiresWitness: 'ring_0_requires_sre_witness',
  duplicate: 'duplicate_elevation',
  insufficientTrust: 'insufficient_trust',
  approvalRequired: 'approval_required',
} as const;
export type ElevationDenialReason = (typeof ElevationDenialReason)[keyof typeof ElevationDenialReason];

const REMEDIATION: Record<ElevationDenialReason, string> = {
  invalid_target: 'Request a ring with a lower number than the current one; elevation only adds privilege.',
  ring_0_requires_sre_witness:
    'Attach an attestation of kind "sre-witness" by a different agent acting as SRE witness.',
  duplicate_elevation: 'Wait for the active elevation to expire, or have it revoked, before requesting another.',
  insufficient_trust: 'Raise the eff-score (own track record or vouchers) until it reaches the threshold.',
  approval_required: 'Have a different agent approve the request (approvedBy).',
};

/** A granted elevation. Active while `nowMs < expiresAtMs`; plain JSON so the session can carry it. */
export interface Elevation {
  elevationId: string;
  agentDid: string;
  fromRing: Ring;
  toRing: Ring;
  grantedAtMs: number;
  expiresAtMs: number;
  ttlSeconds: number;
  reason: string;
  approvedBy: string | null;
  attestation: Attestation | null;
}

/**
 * Grants an elevation or throws `ElevationDenied`. Checks run in a fixed order and the first failure wins:
 * 1. `invalid_target`: the target must be strictly more privileged than `baseRing`;
 * 2. `ring_0_requires_sre_witness`: Ring 0 needs an `sre-witness` attestation by someone other than the requester;
 * 3. `duplicate_elevation`: `active` is the agent's current elevation, and only one may be active per agent;
 * 4. `insufficient_trust`: `effScore` must reach {@link ELEVATION_TRUST_THRESHOLDS} for the target (a score that is
 *    not a number fails closed);
 * 5. `approval_required`: Rings 1 and 0 need `approvedBy`, someone other than the requester.
 *
 * The elevation expires at `nowMs + ttlSeconds * 1000`. `request` is the parsed {@link ElevationRequest}, so its ttl
 * is already within 1..{@link ELEVATION_MAX_TTL_SECONDS}.
 *
 * @throws `ElevationDenied` with details `{ reason, agentDid, currentRing, targetRing }` (plus `effScore` and
 *   `threshold` for `insufficient_trust`); `InvalidInput` when `active` belongs to another agent.
 */
export function grantElevation(a: {
  request: ElevationRequest;
  elevationId: string;
  baseRing: Ring;
  effScore: number;
  active: Elevation | null;
  nowMs: number;
}): Elevation {
  const { request, baseRing, effScore, nowMs } = a;
  const { agentDid, targetRing, attestation, approvedBy } = request;
  const deny = (reason: ElevationDenialReason, why: string, extra: Record<string, unknown> = {}) =>
    hvError(
      ErrorType.ElevationDenied,
      [
        `Ring elevation denied: ${RING_LABELS[baseRing]} -> ${RING_LABELS[targetRing]}`,
        `  Agent: ${agentDid}`,
        `  Reason: ${why}`,
        `  Remediation: ${REMEDIATION[reason]}`,
      ].join('\n'),
      { reason, agentDid, currentRing: baseRing, targetRing, ...extra },
    );

  if (a.active && a.active.agentDid !== agentDid) {
    throw hvError(
      ErrorType.InvalidInput,
      `the active elevation passed for ${agentDid} belongs to ${a.active.agentDid}`,
      { agentDid, activeAgentDid: a.active.agentDid, elevationId: a.active.elevationId },
    );
  }

  if (targetRing >= baseRing) {
    throw deny(
      ElevationDenialReason.invalidTarget,
      `${RING_LABELS[targetRing]} is not more privileged than the agent's current ${RING_LABELS[baseRing]}`,
    );
  }
  if (targetRing === 0 && (attestation?.kind !== 'sre-witness' || attestation.witnessDid === agentDid)) {
    throw deny(
      ElevationDenialReason.ring0RequiresWitness,
      attestation
        ? `the SRE witness must be another agent, not ${agentDid} itself`
        : `${RING_LABELS[0]} requires an SRE witness attestation`,
    );
  }
  if (a.active && isElevationActive(a.active, nowMs)) {
    throw deny(
      ElevationDenialReason.duplicate,
      `elevation ${a.active.elevationId} to ${RING_LABELS[a.active.toRing]} is still active for ${Math.ceil((a.active.expiresAtMs - nowMs) / 1000)} s`,
    );
  }
  // Narrowed by the invalid_target check: a target more privileged than some ring is 0, 1 or 2.
  const threshold = ELEVATION_TRUST_THRESHOLDS[targetRing as keyof typeof ELEVATION_TRUST_THRESHOLDS];
  if (!(effScore >= threshold)) {
    throw deny(
      ElevationDenialReason.insufficientTrust,
      `eff-score ${formatScore(effScore)} is below the ${formatScore(threshold)} required for ${RING_LABELS[targetRing]}`,
      { effScore, threshold },
    );
  }
  if (targetRing <= 1 && (approvedBy === undefined || approvedBy === agentDid)) {
    throw deny(
      ElevationDenialReason.approvalRequired,
      approvedBy === undefined
        ? `${RING_LABELS[targetRing]} requires approval by another agent`
        : `${agentDid} cannot approve its own elevation`,
    );
  }

  return {
    elevationId: a.elevationId,
    agentDid,
    fromRing: baseRing,
    toRing: targetRing,
    grantedAtMs: nowMs,
    expiresAtMs: nowMs + request.ttlSeconds * 1000,
    ttlSeconds: request.ttlSeconds,
    reason: request.reason,
    approvedBy: approvedBy ?? null,
    attestation: attestation ? { ...attestation } : null,
  };
}

/** True while `nowMs < expiresAtMs`; at `expiresAtMs` the elevation has expired. */
export const isElevationActive = (e: Elevation, nowMs: number): boolean => nowMs < e.expiresAtMs;

/**
 * The ring the agent acts in: the elevated ring while `e` is active, else `baseRing`. Never less privileged than
 * `baseRing`, so an elevation outliving a later promotion cannot demote the agent. A demotion does not end an
 * elevation by itself; the session revokes elevations when it demotes an agent.
 */
export function effectiveRing(baseRing: Ring, e: Elevation | null, nowMs: number): Ring {
  if (!e || !isElevationActive(e, nowMs)) return baseRing;
  return Math.min(e.toRing, baseRing) as Ring;
}

/** The elevations that have expired at `nowMs`, earliest expiry first (ties by id), for the workflow to drop. */
export function expiredElevations(elevations: Record<string, Elevation>, nowMs: number): Elevation[] {
  return Object.values(elevations)
    .filter((e) => !isElevationActive(e, nowMs))
    .sort((x, y) => x.expiresAtMs - y.expiresAtMs || (x.elevationId < y.elevationId ? -1 : 1));
}

/** The earliest `expiresAtMs` among `elevations`, or null when there are none: when the workflow's timer should fire. */
export function nextElevationExpiry(elevations: Record<string, Elevation>): number | null {
  let next: number | null = null;
  for (const e of Object.values(elevations)) {
    if (next === null || e.expiresAtMs < next) next = e.expiresAtMs;
  }
  return next;
}

/** Two decimals when they are exact (0.60, 0.85), more when needed so 0.849 never prints as the threshold 0.85. */
function formatScore(score: number): string {
  if (!Number.isFinite(score)) return String(score);
  const short = score.toFixed(2);
  return Number(short) === score ? short : String(Number(score.toFixed(6)));
}

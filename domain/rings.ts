import { z } from 'zod';

/** Execution rings: lower is more privileged. Ring 0 (root) is reachable only by elevation with an SRE witness. */
export const Ring = z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)], {
  error: 'ring must be 0, 1, 2 or 3',
});
export type Ring = z.infer<typeof Ring>;

/** Join thresholds (docs/DESIGN.md §R1), compared with strict `>`. */
export const RING_1_TRUST_THRESHOLD = 0.95;
export const RING_2_TRUST_THRESHOLD = 0.6;

export const RING_LABELS: Record<Ring, string> = {
  0: 'Ring 0 (Root)',
  1: 'Ring 1 (Privileged)',
  2: 'Ring 2 (Standard)',
  3: 'Ring 3 (Sandbox)',
};

/**
 * The ring an eff-score earns at join: > 0.95 with consensus → 1, > 0.60 → 2, else 3. Ring 0 is never derived.
 * Examples: 0.60 → 3, 0.601 → 2, 0.96 without consensus → 2, 0.96 with consensus → 1.
 */
export function ringFromEffScore(effScore: number, hasConsensus: boolean): Ring {
  if (effScore > RING_1_TRUST_THRESHOLD && hasConsensus) return 1;
  if (effScore > RING_2_TRUST_THRESHOLD) return 2;
  return 3;
}

/** A spawned agent gets at most its parent's ring + 1 (never more privilege than its parent, capped at the sandbox). */
export function childRingCap(parentRing: Ring): Ring {
  return Math.min(parentRing + 1, 3) as Ring;
}

/** The less privileged of two rings. */
export const leastPrivileged = (a: Ring, b: Ring): Ring => Math.max(a, b) as Ring;

import { z } from 'zod';
import { ErrorType, hvError } from './errors.js';
import type { Ring } from './rings.js';
import { parseInput } from './validation.js';

/**
 * A token-bucket limit: `burst` tokens at most, refilled at `ratePerSecond`. zod 4 numbers already reject `NaN` and
 * `±Infinity`, so no `.finite()` is needed.
 */
export const RateLimit = z
  .object({
    ratePerSecond: z
      .number({ error: 'ratePerSecond must be a finite number' })
      .positive('ratePerSecond must be greater than 0'),
    burst: z.number({ error: 'burst must be a finite number' }).positive('burst must be greater than 0'),
  })
  .strict();
export type RateLimit = z.infer<typeof RateLimit>;

export type RingRateLimits = { '0': RateLimit; '1': RateLimit; '2': RateLimit; '3': RateLimit };

/** Reference defaults (docs/DESIGN.md §R5): the more privileged the ring, the faster the refill and the larger the burst. */
export const DEFAULT_RING_RATE_LIMITS: RingRateLimits = {
  '0': { ratePerSecond: 100, burst: 200 },
  '1': { ratePerSecond: 50, burst: 100 },
  '2': { ratePerSecond: 20, burst: 40 },
  '3': { ratePerSecond: 5, burst: 10 },
};

/**
 * A per-session override of any subset of rings. A ring left out keeps its own default, not ring 2's as the reference
 * does (a partial override there silently loosened ring 3 and tightened rings 0 and 1).
 */
export const RingRateLimitsOverride = z
  .object({
    '0': RateLimit.optional(),
    '1': RateLimit.optional(),
    '2': RateLimit.optional(),
    '3': RateLimit.optional(),
  })
  .strict();
export type RingRateLimitsOverride = z.infer<typeof RingRateLimitsOverride>;

/**
 * The full per-ring table for a session: `override` (validated, `InvalidInput` otherwise) on top of the defaults.
 * Always returns fresh objects, so mutating the result cannot corrupt {@link DEFAULT_RING_RATE_LIMITS}.
 */
export function resolveRingRateLimits(override?: Partial<RingRateLimits>): RingRateLimits {
  const parsed = parseInput(RingRateLimitsOverride, override ?? {}, 'rate limit override');
  const pick = (ring: keyof RingRateLimits): RateLimit => ({ ...(parsed[ring] ?? DEFAULT_RING_RATE_LIMITS[ring]) });
  return { '0': pick('0'), '1': pick('1'), '2': pick('2'), '3': pick('3') };
}

/**
 * One agent's bucket. Plain JSON so it survives continue-as-new. `tokens` may be fractional and never exceeds the
 * burst of `ring`; `updatedAtMs` never moves backwards.
 */
export interface Bucket {
  tokens: number;
  updatedAtMs: number;
  ring: Ring;
}

/**
 * `retryAfterMs` when a request can never succeed because its cost exceeds the ring's burst. -1 rather than
 * `Infinity`, which the JSON payload converter would turn into `null`.
 */
export const RETRY_NEVER = -1;

function limitFor(limits: RingRateLimits, ring: Ring): RateLimit {
  const limit: RateLimit | undefined = limits[ring];
  if (!limit) throw hvError(ErrorType.InvalidInput, `no rate limit configured for ring ${String(ring)}`, { ring });
  return limit;
}

function assertTime(nowMs: number): void {
  if (!Number.isFinite(nowMs)) {
    throw hvError(ErrorType.InvalidInput, `nowMs must be a finite number, got ${String(nowMs)}`, {});
  }
}

/** A bucket that starts full: a newcomer gets the burst of its ring. */
export function newBucket(ring: Ring, limits: RingRateLimits, nowMs: number): Bucket {
  assertTime(nowMs);
  return { tokens: limitFor(limits, ring).burst, updatedAtMs: nowMs, ring };
}

/**
 * Refills `bucket` at the rate of the ring it was in, then moves it to `ring` without a fresh burst: a demotion caps the
 * tokens at the new burst and a promotion keeps them (the reference hands out a full bucket on any ring change and
 * ignores later rings, W-RL-2/W-RL-4). A clock that goes backwards counts as no elapsed time and `updatedAtMs` is
 * kept, so jumping back and forth cannot mint tokens.
 */
export function bucketForRing(bucket: Bucket, ring: Ring, limits: RingRateLimits, nowMs: number): Bucket {
  assertTime(nowMs);
  const current = limitFor(limits, bucket.ring);
  const target = limitFor(limits, ring);
  const elapsedMs = Math.max(0, nowMs - bucket.updatedAtMs);
  // Multiplying before dividing keeps whole-millisecond refills exact (200 ms at 5/s is exactly 1 token).
  const refilled = Math.min(current.burst, bucket.tokens + (elapsedMs * current.ratePerSecond) / 1000);
  return { tokens: Math.min(refilled, target.burst), updatedAtMs: Math.max(nowMs, bucket.updatedAtMs), ring };
}

/**
 * Spends `cost` tokens (default 1) for a call made at `ring`, after {@link bucketForRing}. A denied call consumes
 * nothing; `retryAfterMs` is then the whole milliseconds until enough tokens have refilled, or {@link RETRY_NEVER}
 * when `cost` exceeds the ring's burst. `cost` must be finite and positive: the reference accepts a negative cost,
 * which refills the bucket (W-RL-3).
 */
export function takeTokens(
  bucket: Bucket,
  args: { ring: Ring; limits: RingRateLimits; nowMs: number; cost?: number },
): { bucket: Bucket; allowed: boolean; retryAfterMs: number } {
  const cost = args.cost ?? 1;
  if (typeof cost !== 'number' || !Number.isFinite(cost) || cost <= 0) {
    throw hvError(ErrorType.InvalidInput, `cost must be a finite number greater than 0, got ${String(cost)}`, {
      cost: String(cost),
    });
  }
  const next = bucketForRing(bucket, args.ring, args.limits, args.nowMs);
  if (next.tokens >= cost) return { bucket: { ...next, tokens: next.tokens - cost }, allowed: true, retryAfterMs: 0 };
  const { ratePerSecond, burst } = limitFor(args.limits, args.ring);
  const retryAfterMs = cost > burst ? RETRY_NEVER : Math.ceil(((cost - next.tokens) * 1000) / ratePerSecond);
  return { bucket: next, allowed: false, retryAfterMs };
}

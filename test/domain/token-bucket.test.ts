import { failureOf } from '../helpers/domain.js';
import { describe, expect, it } from 'vitest';
import { ErrorType } from '../../domain/errors.js';
import type { Ring } from '../../domain/rings.js';
import {
  DEFAULT_RING_RATE_LIMITS,
  RETRY_NEVER,
  RateLimit,
  RingRateLimitsOverride,
  bucketForRing,
  newBucket,
  resolveRingRateLimits,
  takeTokens,
  type Bucket,
} from '../../domain/token-bucket.js';

const limits = resolveRingRateLimits();

/** Calls `takeTokens` `count` times at one instant and returns how many were allowed and the final bucket. */
function drain(bucket: Bucket, ring: Ring, nowMs: number, count: number): { bucket: Bucket; allowed: number } {
  let allowed = 0;
  for (let i = 0; i < count; i++) {
    const result = takeTokens(bucket, { ring, limits, nowMs });
    bucket = result.bucket;
    if (result.allowed) allowed++;
  }
  return { bucket, allowed };
}

describe('rate limits', () => {
  it('defaults to the reference table', () => {
    expect(DEFAULT_RING_RATE_LIMITS).toEqual({
      '0': { ratePerSecond: 100, burst: 200 },
      '1': { ratePerSecond: 50, burst: 100 },
      '2': { ratePerSecond: 20, burst: 40 },
      '3': { ratePerSecond: 5, burst: 10 },
    });
    expect(resolveRingRateLimits()).toEqual(DEFAULT_RING_RATE_LIMITS);
  });

  it('keeps each missing ring at its own default when only ring 1 is overridden', () => {
    const resolved = resolveRingRateLimits({ '1': { ratePerSecond: 7, burst: 14 } });
    expect(resolved).toEqual({
      '0': { ratePerSecond: 100, burst: 200 },
      '1': { ratePerSecond: 7, burst: 14 },
      '2': { ratePerSecond: 20, burst: 40 },
      '3': { ratePerSecond: 5, burst: 10 },
    });
  });

  it('returns a copy, so mutating the resolved table leaves the defaults intact', () => {
    const resolved = resolveRingRateLimits();
    resolved['3'].burst = 1_000;
    expect(DEFAULT_RING_RATE_LIMITS['3'].burst).toBe(10);
  });

  it('rejects non-positive, non-finite and non-numeric limits', () => {
    for (const bad of [
      { ratePerSecond: 0, burst: 1 },
      { ratePerSecond: -1, burst: 1 },
      { ratePerSecond: Infinity, burst: 1 },
      { ratePerSecond: NaN, burst: 1 },
      { ratePerSecond: 1, burst: true },
      { ratePerSecond: 1, burst: 1, extra: 1 },
    ]) {
      expect(RateLimit.safeParse(bad).success).toBe(false);
    }
    expect(RateLimit.safeParse({ ratePerSecond: 0, burst: 1 }).error?.issues[0]?.message).toBe(
      'ratePerSecond must be greater than 0',
    );
  });

  it('rejects an override for an unknown ring or with a bad limit', () => {
    expect(RingRateLimitsOverride.safeParse({ '4': { ratePerSecond: 1, burst: 1 } }).success).toBe(false);
    const failure = failureOf(() => resolveRingRateLimits({ '2': { ratePerSecond: -5, burst: 10 } }));
    expect(failure.type).toBe(ErrorType.InvalidInput);
    expect(failure.message).toContain('2.ratePerSecond: ratePerSecond must be greater than 0');
  });
});

describe('token bucket', () => {
  it('starts full with the burst of its ring', () => {
    expect(newBucket(3, limits, 1_000)).toEqual({ tokens: 10, updatedAtMs: 1_000, ring: 3 });
    expect(newBucket(0, limits, 1_000).tokens).toBe(200);
  });

  it('lets ring 3 burst 10 calls and rate-limits the 11th', () => {
    const { bucket, allowed } = drain(newBucket(3, limits, 0), 3, 0, 10);
    expect(allowed).toBe(10);
    const eleventh = takeTokens(bucket, { ring: 3, limits, nowMs: 0 });
    expect(eleventh.allowed).toBe(false);
    expect(eleventh.retryAfterMs).toBe(200);
    expect(eleventh.bucket.tokens).toBe(0);
  });

  it('lets ring 0 make 200 immediate calls and then denies', () => {
    const { bucket, allowed } = drain(newBucket(0, limits, 0), 0, 0, 201);
    expect(allowed).toBe(200);
    expect(takeTokens(bucket, { ring: 0, limits, nowMs: 0 }).allowed).toBe(false);
  });

  it('refills ring 3 by 5 tokens per second and caps at its burst', () => {
    const empty = drain(newBucket(3, limits, 0), 3, 0, 10).bucket;
    const refilled = bucketForRing(empty, 3, limits, 1_000);
    expect(refilled).toEqual({ tokens: 5, updatedAtMs: 1_000, ring: 3 });
    expect(drain(refilled, 3, 1_000, 6).allowed).toBe(5);
    expect(bucketForRing(empty, 3, limits, 3_600_000).tokens).toBe(10);
  });

  it('allows the call once retryAfterMs has passed', () => {
    const empty = drain(newBucket(3, limits, 0), 3, 0, 10).bucket;
    const denied = takeTokens(empty, { ring: 3, limits, nowMs: 50, cost: 2 });
    expect(denied).toMatchObject({ allowed: false, retryAfterMs: 350 });
    expect(takeTokens(denied.bucket, { ring: 3, limits, nowMs: 399, cost: 2 }).allowed).toBe(false);
    expect(takeTokens(denied.bucket, { ring: 3, limits, nowMs: 400, cost: 2 }).allowed).toBe(true);
  });

  it('caps a demotion from ring 0 at the ring 3 burst', () => {
    const full = newBucket(0, limits, 0);
    expect(bucketForRing(full, 3, limits, 0)).toEqual({ tokens: 10, updatedAtMs: 0, ring: 3 });
    const { bucket, allowed } = drain(full, 3, 0, 11);
    expect(allowed).toBe(10);
    expect(bucket.ring).toBe(3);
  });

  it('gives no fresh burst on promotion from ring 3 to ring 0', () => {
    const two = drain(newBucket(3, limits, 0), 3, 0, 8).bucket;
    const promoted = bucketForRing(two, 0, limits, 0);
    expect(promoted).toEqual({ tokens: 2, updatedAtMs: 0, ring: 0 });
    expect(drain(two, 0, 0, 3).allowed).toBe(2);
    expect(bucketForRing(promoted, 0, limits, 100).tokens).toBe(12);
  });

  it('refills at the old ring rate for the time spent before a ring change', () => {
    const empty = drain(newBucket(3, limits, 0), 3, 0, 10).bucket;
    expect(bucketForRing(empty, 0, limits, 1_000).tokens).toBe(5);
  });

  it('rejects a zero, negative, NaN or infinite cost with InvalidInput', () => {
    const bucket = newBucket(3, limits, 0);
    for (const cost of [0, -1, -100, NaN, Infinity, -Infinity]) {
      const failure = failureOf(() => takeTokens(bucket, { ring: 3, limits, nowMs: 0, cost }));
      expect(failure.type).toBe(ErrorType.InvalidInput);
      expect(failure.nonRetryable).toBe(true);
    }
  });

  it('denies a cost above the burst forever without consuming tokens', () => {
    const bucket = newBucket(3, limits, 0);
    const result = takeTokens(bucket, { ring: 3, limits, nowMs: 0, cost: 11 });
    expect(result).toEqual({ bucket, allowed: false, retryAfterMs: RETRY_NEVER });
  });

  it('supports fractional costs', () => {
    const result = takeTokens(newBucket(3, limits, 0), { ring: 3, limits, nowMs: 0, cost: 2.5 });
    expect(result.allowed).toBe(true);
    expect(result.bucket.tokens).toBe(7.5);
  });

  it('mints no tokens when time goes backwards', () => {
    const empty = drain(newBucket(3, limits, 10_000), 3, 10_000, 10).bucket;
    const back = takeTokens(empty, { ring: 3, limits, nowMs: 0 });
    expect(back.allowed).toBe(false);
    expect(back.bucket).toEqual({ tokens: 0, updatedAtMs: 10_000, ring: 3 });
    expect(takeTokens(back.bucket, { ring: 3, limits, nowMs: 10_000 }).allowed).toBe(false);
    expect(takeTokens(back.bucket, { ring: 3, limits, nowMs: 10_200 }).allowed).toBe(true);
  });

  it('rejects a non-finite clock with InvalidInput', () => {
    expect(failureOf(() => newBucket(3, limits, NaN)).type).toBe(ErrorType.InvalidInput);
    expect(failureOf(() => bucketForRing(newBucket(3, limits, 0), 3, limits, Infinity)).type).toBe(
      ErrorType.InvalidInput,
    );
  });

  it('returns new JSON-safe state and leaves its input untouched', () => {
    const bucket = newBucket(3, limits, 0);
    const snapshot = structuredClone(bucket);
    const denied = takeTokens(bucket, { ring: 3, limits, nowMs: 0, cost: 50 });
    const allowed = takeTokens(bucket, { ring: 3, limits, nowMs: 0 });
    expect(bucket).toEqual(snapshot);
    expect(allowed.bucket).not.toBe(bucket);
    expect(JSON.parse(JSON.stringify(denied))).toEqual(denied);
    expect(JSON.parse(JSON.stringify(allowed))).toEqual(allowed);
  });
});

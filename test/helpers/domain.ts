import { ApplicationFailure } from '@temporalio/common';
import { expect } from 'vitest';

/** Runs `fn`, which must throw an `ApplicationFailure`, and returns that failure for further assertions. */
export function failureOf(fn: () => unknown): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  return expect.fail('expected an ApplicationFailure');
}

/** Freezes a value recursively, so a domain function that mutates its input throws in (strict-mode) tests. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

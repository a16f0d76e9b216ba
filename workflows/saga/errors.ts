import * as wf from '@temporalio/workflow';
import type { SagaStepDefinition } from '../../domain/saga-dsl.js';
import { StepRejectedType } from '../../domain/saga-types.js';

/** A step or a fan-out that failed: its message is the error the saga reports. */
export class StepFailure extends Error {}

/** The attempt died with its worker (it stopped heartbeating): it says nothing about the step itself. */
export function lostWorker(err: unknown): boolean {
  return (
    err instanceof wf.ActivityFailure && err.cause instanceof wf.TimeoutFailure && err.cause.timeoutType === 'HEARTBEAT'
  );
}

/** What went wrong, for the view and the audit: the innermost cause that says it, a timeout by its type. */
export function failureMessage(err: unknown): string {
  let cur: unknown = err;
  // Activity and child failures wrap the cause that says what happened.
  while (
    cur instanceof wf.ActivityFailure ||
    (cur instanceof wf.TemporalFailure && cur.cause && !(cur instanceof wf.ApplicationFailure))
  )
    cur = cur.cause;
  if (cur instanceof wf.TimeoutFailure) return `timed out (${cur.timeoutType})`;
  return cur instanceof Error ? cur.message : String(cur);
}

/** How many attempts a failed step made: the retry policy's count, or 1 for a non-retryable rejection. */
export function attemptsOf(err: unknown, step: SagaStepDefinition): number {
  const cause = err instanceof wf.ActivityFailure ? err.cause : undefined;
  if (cause instanceof wf.ApplicationFailure && (cause.nonRetryable || cause.type === StepRejectedType)) return 1;
  return step.retries + 1;
}

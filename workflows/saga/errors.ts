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

/** How many attempts a failed step made: the retry policy's count, or 1 for a non-retryable rejection. */
export function attemptsOf(err: unknown, step: SagaStepDefinition): number {
  const cause = err instanceof wf.ActivityFailure ? err.cause : undefined;
  if (cause instanceof wf.ApplicationFailure && (cause.nonRetryable || cause.type === StepRejectedType)) return 1;
  return step.retries + 1;
}

import * as wf from '@temporalio/workflow';
import { ErrorType, hvError } from '../../domain/errors.js';

/**
 * Runs `fn`, turning any non-Temporal error into a failed update: an error escaping a handler would fail the workflow
 * task and retry it forever, so a bug never wedges a session.
 */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof wf.ApplicationFailure) throw err;
    throw hvError(ErrorType.Internal, `internal error: ${(err as Error).message}`, {});
  }
}

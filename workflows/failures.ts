import * as wf from '@temporalio/workflow';

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

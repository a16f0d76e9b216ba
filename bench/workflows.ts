/**
 * The bench's workflow bundle: every production workflow, plus the probes the suites compare them with — the
 * cheapest update Temporal can serve on the same server (no state, no activity, no follow-up), and the cheapest
 * workflow it can run (start, then return).
 */
import { condition, defineSignal, defineUpdate, setHandler } from '@temporalio/workflow';

export * from '../workflows/index.js';

export const probeUpdate = defineUpdate<null, []>('probe');
export const probeEndSignal = defineSignal('probeEnd');

/** A trivial workflow that answers no-op updates until it is told to end. */
export async function probeWorkflow(): Promise<void> {
  let ended = false;
  setHandler(probeUpdate, () => null);
  setHandler(probeEndSignal, () => void (ended = true));
  await condition(() => ended);
}

/** The substrate's floor for a whole workflow: one workflow task, then completion. */
export function emptyWorkflow(): Promise<void> {
  return Promise.resolve();
}

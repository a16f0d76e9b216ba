import { involvedAgents, type CompensationFailure } from '../../domain/saga-run.js';
import { sagaControl } from '../activity-proxies.js';
import { failureMessage } from '../failures.js';
import type { SagaRun } from './run.js';
import { dispatch } from './steps.js';

/** Undoes one step, idempotently and with its own attempt budget; returns the failure if it finally failed. */
export async function undoStep(run: SagaRun, id: string): Promise<CompensationFailure | null> {
  const step = run.stepOf(id);
  const wasCancelled = run.ledger.compensating(id);
  try {
    await dispatch(run, step, 'undo');
    run.ledger.compensated(id);
    if (step.checkpoint_goal)
      await sagaControl.invalidateCheckpoints({ sagaId: run.sagaId, stepId: id, by: 'compensation' });
    await run.report({ kind: 'saga_step_compensated', stepId: id, agentDid: step.agent, details: { wasCancelled } });
  } catch (err) {
    const error = failureMessage(err);
    run.ledger.compensationFailed(id, error);
    await run.report({
      kind: 'saga_step_compensation_failed',
      stepId: id,
      agentDid: step.agent,
      details: { error: error.slice(0, 1000) },
    });
    return { stepId: id, agentDid: step.agent, error };
  }
  return null;
}

/** Undoes the steps one after the other, in the order given; returns those whose undo finally failed. */
export async function undoAll(run: SagaRun, ids: readonly string[]): Promise<CompensationFailure[]> {
  const failures: CompensationFailure[] = [];
  for (const id of ids) {
    const failure = await undoStep(run, id);
    if (failure) failures.push(failure);
  }
  return failures;
}

/** Rolls the saga back, newest step first; undos that finally failed escalate it. Returns those failures. */
export async function compensate(run: SagaRun): Promise<CompensationFailure[]> {
  const out = await undoAll(run, run.ledger.compensationOrder());
  if (out.length > 0) {
    await escalate(run, out, run.ledger.view.error!);
  }
  return out;
}

/** Records the saga's escalation: the steps that could not be undone and every agent involved. */
export function escalate(run: SagaRun, failedSteps: CompensationFailure[], reason: string): Promise<void> {
  // Not async: awaiting it takes the same microtask hops as awaiting the activity, so commands keep their order.
  return sagaControl.escalateSaga({
    sagaId: run.sagaId,
    sessionId: run.sessionId,
    failedSteps,
    agents: involvedAgents(run.definition),
    reason,
  });
}

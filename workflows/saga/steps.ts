import * as wf from '@temporalio/workflow';
import type { Json } from '../../domain/audit-chain.js';
import { checkpointGoalHash, type SagaStepDefinition } from '../../domain/saga-dsl.js';
import { sagaControl, stepActivity } from '../activity-proxies.js';
import { failureMessage } from '../failures.js';
import { attemptsOf, lostWorker, StepFailure } from './errors.js';
import type { SagaRun } from './run.js';

/** Re-dispatches of a step whose worker died (stopped heartbeating), on top of the step's own retries. */
const MAX_LOST_WORKER_REDISPATCHES = 3;

/**
 * Runs the step's executor. A worker that dies mid-step stops heartbeating; that attempt says nothing about the step,
 * so it is dispatched again (same idempotency key) without spending the step's own retries.
 */
export async function dispatch(
  run: SagaRun,
  step: SagaStepDefinition,
  mode: 'execute' | 'undo',
): Promise<{ result: Json; attempt: number }> {
  for (let lost = 0; ; lost++) {
    try {
      return await stepActivity(step, run.options, mode, run.ledger.executorOf(step).agentDid).runSagaStep(
        run.ledger.invocation(step, mode),
      );
    } catch (err) {
      if (lost < MAX_LOST_WORKER_REDISPATCHES && lostWorker(err)) {
        wf.log.warn('step worker stopped heartbeating; dispatching the step again', {
          sagaId: run.sagaId,
          stepId: step.id,
          mode,
        });
        continue;
      }
      throw err;
    }
  }
}

/**
 * One step: skipped when its checkpoint goal was already achieved, else authorized with the session and executed. A
 * kill of its agent hands it to the substitute (authorized in turn) or fails it. Throws {@link StepFailure} when it
 * fails and the cancellation when the saga cancelled it.
 */
export async function runStep(run: SagaRun, step: SagaStepDefinition): Promise<void> {
  // The awaits stay in this one body: fan-out branches resume in the same activation, and an extra async layer here
  // would reorder their commands against the recorded histories.
  const { ledger } = run;
  if (step.checkpoint_goal) {
    const goalHash = checkpointGoalHash(step.checkpoint_goal, step.id);
    const found = await sagaControl.findCheckpoint({ sagaId: run.sagaId, stepId: step.id, goalHash });
    if (found) {
      ledger.skip(step.id, found.result, Date.now());
      await run.report({ kind: 'saga_step_skipped', stepId: step.id, agentDid: step.agent, details: { goalHash } });
      return;
    }
  }
  let decision;
  try {
    decision = await sagaControl.authorizeSagaStep(ledger.authorization(step, step.agent, 0));
  } catch (err) {
    return fail(run, step, `not authorized: ${failureMessage(err)}`);
  }
  if (!decision.allowed) return fail(run, step, `not authorized: ${decision.reason}`);

  ledger.start(step.id, Date.now());
  await run.report({
    kind: 'saga_step_started',
    stepId: step.id,
    agentDid: step.agent,
    details: { action: step.action_id },
  });
  for (;;) {
    const { agentDid, epoch } = ledger.executorOf(step);
    const entry = run.track(step.id, agentDid);
    try {
      const { result, attempt } = await entry.scope.run(() => dispatch(run, step, 'execute'));
      ledger.commit(step.id, result, attempt, Date.now());
      break;
    } catch (err) {
      // Our own hand-off cancel (the agent was killed), not a saga-wide cancellation.
      if (wf.isCancellation(err) && entry.handoff && !wf.CancellationScope.current().consideredCancelled) {
        const substitute = entry.handoff.substituteDid;
        if (!substitute) return fail(run, step, `agent ${agentDid} was killed and no substitute took the step over`);
        ledger.reassign(step.id, { agentDid: substitute, epoch: epoch + 1 });
        await run.report({
          kind: 'saga_step_reassigned',
          stepId: step.id,
          agentDid: substitute,
          details: { from: agentDid, epoch: epoch + 1 },
        });
        const granted = await sagaControl
          .authorizeSagaStep(ledger.authorization(step, substitute, epoch + 1))
          .catch((e: unknown) => ({ allowed: false, reason: failureMessage(e) }));
        if (!granted.allowed) return fail(run, step, `substitute ${substitute} not authorized: ${granted.reason}`);
        continue;
      }
      if (wf.isCancellation(err)) {
        ledger.cancel(step.id, Date.now());
        await wf.CancellationScope.nonCancellable(() =>
          run.report({ kind: 'saga_step_cancelled', stepId: step.id, agentDid }),
        );
        throw err;
      }
      return fail(run, step, failureMessage(err), attemptsOf(err, step));
    } finally {
      run.inflight.delete(step.id);
    }
  }
  if (step.checkpoint_goal)
    await sagaControl.saveCheckpoint({
      sagaId: run.sagaId,
      stepId: step.id,
      goal: step.checkpoint_goal,
      goalHash: checkpointGoalHash(step.checkpoint_goal, step.id),
      result: ledger.step(step.id).result,
    });
  await run.report({ kind: 'saga_step_committed', stepId: step.id, agentDid: step.agent, details: {} });
}

/** Records the step as failed, reports it, and throws the {@link StepFailure} that stops its stage. */
async function fail(run: SagaRun, step: SagaStepDefinition, error: string, attempts = 0): Promise<never> {
  run.ledger.fail(step.id, error, attempts, Date.now());
  await run.report({
    kind: 'saga_step_failed',
    stepId: step.id,
    agentDid: step.agent,
    details: { error: error.slice(0, 1000) },
  });
  throw new StepFailure(`step ${step.id} failed: ${error}`);
}

import * as wf from '@temporalio/workflow';
import type { SagaStage } from '../../domain/saga-dsl.js';
import { fanOutFailureMessage, fanOutVerdict } from '../../domain/saga-run.js';
import { undoAll } from './compensation.js';
import { StepFailure } from './errors.js';
import type { SagaRun } from './run.js';
import { runStep } from './steps.js';

/** Branches in parallel; once the policy's outcome is decided, stragglers are cancelled and every branch settles. */
export async function runFanOut(run: SagaRun, stage: Extract<SagaStage, { kind: 'fan_out' }>): Promise<void> {
  const { policy, stepIds } = stage;
  let ok = 0;
  let failed = 0;
  const scope = new wf.CancellationScope();
  const branches = scope.run(() =>
    Promise.allSettled(
      stepIds.map((id) =>
        runStep(run, run.stepOf(id)).then(
          () => void ok++,
          (err: unknown) => {
            if (!wf.isCancellation(err)) failed++;
            throw err;
          },
        ),
      ),
    ),
  );
  await wf.condition(() => fanOutVerdict(policy, stepIds.length, ok, failed) !== 'pending');
  scope.cancel();
  await branches;
  const succeeded = fanOutVerdict(policy, stepIds.length, ok, failed) === 'succeeded';
  if (succeeded) {
    // The outcome is decided without the stragglers: whatever they did is undone now, not left behind.
    const stragglers = run.ledger.takeStragglers(stepIds);
    const failures = await wf.CancellationScope.nonCancellable(() => undoAll(run, stragglers));
    run.ledger.strandedUndoFailures.push(...failures);
  }
  if (!succeeded) throw new StepFailure(fanOutFailureMessage(policy, stepIds, ok));
}

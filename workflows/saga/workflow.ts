import * as wf from '@temporalio/workflow';
import { parseSagaDefinition, planSaga, type SagaDefinition } from '../../domain/saga-dsl.js';
import {
  SagaRunOptions,
  SagaWorkflowInput,
  type RecordSagaEventInput,
  type SagaView,
} from '../../domain/saga-types.js';
import { MESSAGE_LIMITS } from '../../domain/limits.js';
import { parseInput } from '../../domain/validation.js';
import { liability } from '../activity-proxies.js';
import { compensate, escalate } from './compensation.js';
import { failureMessage } from '../failures.js';
import { SagaRun } from './run.js';
import { runFanOut } from './stages.js';
import { runStep } from './steps.js';

/** Start arguments: the saga's id, its definition (parsed here), and how to run it. */
export type { SagaWorkflowInput };

/**
 * One saga (docs/DESIGN.md §3.2): the definition's stages run in order; a fan-out stage runs its branches in parallel
 * under its policy. Every step is authorized with its session first, then executed (registered handler, HTTP API, or
 * the agent's own task queue) with its timeout, retries and heartbeats. On failure the committed steps are compensated
 * in reverse order in a non-cancellable scope; a compensation that finally fails escalates the saga.
 */
export async function sagaWorkflow(raw: SagaWorkflowInput): Promise<SagaView> {
  // Invalid start arguments fail the saga with a non-retryable typed failure (InvalidInput, SagaDefinitionInvalid)
  // before it does anything: no step runs, nothing is reported (docs/DESIGN.md §12).
  const input = parseInput(SagaWorkflowInput, raw, 'saga workflow input', MESSAGE_LIMITS.maxStartNesting);
  const definition = parseSagaDefinition(input.definition);
  const options = parseInput(SagaRunOptions, input.options ?? {}, 'saga options');
  const run = new SagaRun(input.sagaId, definition, options);
  const { ledger } = run;
  const view = ledger.view;
  run.registerHandlers();
  await run.authenticate();

  run.setStatus('running');
  await run.report({ kind: 'saga_started', details: { name: definition.name, steps: definition.steps.length } });
  try {
    for (const stage of planSaga(definition).stages) {
      if (stage.kind === 'step') await runStep(run, run.stepOf(stage.stepId));
      else await runFanOut(run, stage);
    }
  } catch (err) {
    view.error = wf.isCancellation(err) ? 'saga cancelled' : failureMessage(err);
  }

  switch (ledger.ending()) {
    case 'escalate_stranded':
      view.error = 'a cancelled fan-out branch could not be undone';
      await wf.CancellationScope.nonCancellable(() => escalate(run, ledger.strandedUndoFailures, view.error!));
      run.setStatus('escalated');
      break;
    case 'completed':
      run.setStatus('completed');
      break;
    case 'failed':
      run.setStatus('failed');
      break;
    case 'compensate': {
      run.setStatus('compensating');
      // Compensation must run even when the saga itself is being cancelled.
      const failures = await wf.CancellationScope.nonCancellable(() => compensate(run));
      run.setStatus(failures.length > 0 ? 'escalated' : 'compensated');
      break;
    }
  }
  view.completedAtMs = Date.now();
  await wf.CancellationScope.nonCancellable(() => reportOutcome(run, definition));
  return view;
}

/**
 * Who caused it: Shapley shares over the agents involved, recorded in the liability ledger, then the saga's end. The
 * session slashes the root cause of an escalated saga when its policy says so (it owns the bonds and the policy).
 */
async function reportOutcome(run: SagaRun, definition: SagaDefinition): Promise<void> {
  const view = run.ledger.view;
  let rootCause: string | null = null;
  if (view.status !== 'completed') {
    const attribution = await liability.attributeSagaFault({
      sagaId: run.sagaId,
      sessionId: run.sessionId,
      definition,
      steps: view.steps.map((s) => ({ stepId: s.stepId, agentDid: s.agentDid, state: s.state })),
    });
    rootCause = attribution.rootCause;
    await run.report({
      kind: 'saga_fault_attributed',
      details: { shares: attribution.agents, value: attribution.value, rootCause },
    });
  }
  await run.report({
    kind: `saga_${view.status}` as RecordSagaEventInput['kind'],
    details: { error: view.error?.slice(0, 1000) ?? null, rootCause },
  });
}

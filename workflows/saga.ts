import * as wf from '@temporalio/workflow';
import type { Json } from '../domain/audit-chain.js';
import {
  checkpointGoalHash,
  parseSagaDefinition,
  planSaga,
  requiredSuccesses,
  type SagaDefinition,
  type SagaDefinitionInput,
  type SagaStepDefinition,
  type SagaStage,
} from '../domain/saga-dsl.js';
import {
  SagaRunOptions,
  StepRejectedType,
  type RecordSagaEventInput,
  type SagaStatus,
  type SagaView,
  type StepInvocation,
  type StepView,
} from '../domain/saga-types.js';
import { HvSagaStatus, HvSessionId } from '../domain/search-attributes.js';
import { parseInput } from '../domain/validation.js';
import { liability, sagaControl, stepActivity } from './activity-proxies.js';
import {
  getSagaProgressQuery,
  handOffStepsUpdate,
  recordSagaEventSignal,
  sessionWorkflowId,
  type StepHandOff,
} from './messages.js';

export interface SagaWorkflowInput {
  sagaId: string;
  definition: SagaDefinitionInput;
  options?: Partial<SagaRunOptions>;
}

/** A step that failed: carries what the saga reports. */
class StepFailure extends Error {}

interface CompensationFailure {
  stepId: string;
  agentDid: string;
  error: string;
}

/** Re-dispatches of a step whose worker died (stopped heartbeating), on top of the step's own retries. */
const MAX_LOST_WORKER_REDISPATCHES = 3;

function lostWorker(err: unknown): boolean {
  return (
    err instanceof wf.ActivityFailure && err.cause instanceof wf.TimeoutFailure && err.cause.timeoutType === 'HEARTBEAT'
  );
}

/**
 * One saga (DESIGN §3.2): the definition's stages run in order; a fan-out stage runs its branches in parallel under
 * its policy. Every step is authorized with its session first, then executed (registered handler, HTTP API, or the
 * agent's own task queue) with its timeout, retries and heartbeats. On failure the committed steps are compensated in
 * reverse order in a non-cancellable scope; a compensation that finally fails escalates the saga.
 */
export async function sagaWorkflow(input: SagaWorkflowInput): Promise<SagaView> {
  const definition: SagaDefinition = parseSagaDefinition(input.definition);
  const options = parseInput(SagaRunOptions, input.options ?? {}, 'saga options');
  const sagaId = input.sagaId;
  const sessionId = definition.session_id;
  const stepsById = new Map(definition.steps.map((s) => [s.id, s]));
  const view: SagaView = {
    sagaId,
    sessionId,
    name: definition.name,
    status: 'running',
    steps: definition.steps.map((s) => ({
      stepId: s.id,
      actionId: s.action_id,
      agentDid: s.agent,
      state: 'pending',
      attempts: 0,
      startedAtMs: null,
      completedAtMs: null,
      result: null,
      error: null,
      compensationError: null,
    })),
    error: null,
    startedAtMs: Date.now(),
    completedAtMs: null,
  };
  const stepView = (id: string): StepView => view.steps.find((s) => s.stepId === id)!;
  wf.setHandler(getSagaProgressQuery, () => view);

  const setStatus = (status: SagaStatus): void => {
    view.status = status;
    wf.upsertSearchAttributes([
      { key: HvSagaStatus, value: status },
      { key: HvSessionId, value: sessionId },
    ]);
  };

  /** Reports to the session's audit chain. A session that has ended cannot record; the saga's own history still does. */
  const report = async (event: Omit<RecordSagaEventInput, 'sagaId'>): Promise<void> => {
    try {
      await wf
        .getExternalWorkflowHandle(sessionWorkflowId(sessionId))
        .signal(recordSagaEventSignal, { sagaId, ...event });
    } catch (err) {
      wf.log.warn('saga event not recorded by the session', { sagaId, kind: event.kind, error: String(err) });
    }
  };

  /** Committed (or checkpoint-skipped) steps, in commit order: compensation walks it backwards. */
  const committed: string[] = [];
  /** Steps cancelled while running (stragglers): their effect may have landed, so they are undone too. */
  const cancelledStarted: string[] = [];
  /** Straggler undos that failed after a fan-out had already succeeded: they escalate the saga at the end. */
  const strandedUndoFailures: CompensationFailure[] = [];

  /**
   * Who runs each step, under which fencing epoch. A kill hands an in-flight step to a substitute under a bumped epoch;
   * services that fence on (idempotencyKey, epoch) then refuse the killed agent's late completion.
   */
  const executors = new Map<string, { agentDid: string; epoch: number }>();
  const executorOf = (step: SagaStepDefinition) => executors.get(step.id) ?? { agentDid: step.agent, epoch: 0 };
  /** Steps running right now, each in its own scope so a kill can cancel exactly that step. */
  const inflight = new Map<
    string,
    { agentDid: string; scope: wf.CancellationScope; handoff?: { substituteDid: string | null } }
  >();

  wf.setHandler(handOffStepsUpdate, ({ agentDid, substituteDid }) => {
    const out: StepHandOff[] = [];
    for (const [stepId, entry] of inflight) {
      if (entry.agentDid !== agentDid || entry.handoff) continue;
      entry.handoff = { substituteDid: substituteDid ?? null };
      entry.scope.cancel();
      out.push({
        sagaId,
        stepId,
        disposition: substituteDid ? 'reassigned' : 'failed',
        substituteDid: substituteDid ?? null,
      });
    }
    return out;
  });

  const invocation = (step: SagaStepDefinition, mode: 'execute' | 'undo'): StepInvocation => ({
    sagaId,
    sessionId,
    stepId: step.id,
    actionId: step.action_id,
    agentDid: executorOf(step).agentDid,
    mode,
    api: (mode === 'execute' ? step.execute_api : step.undo_api) ?? '',
    idempotencyKey: `${sagaId}/${step.id}/${mode}`,
    epoch: executorOf(step).epoch,
    result: stepView(step.id).result,
  });

  /**
   * Runs the step's executor. A worker that dies mid-step stops heartbeating; that attempt says nothing about the step,
   * so it is dispatched again (same idempotency key) without spending the step's own retries.
   */
  async function dispatch(
    step: SagaStepDefinition,
    mode: 'execute' | 'undo',
  ): Promise<{ result: Json; attempt: number }> {
    for (let lost = 0; ; lost++) {
      try {
        return await stepActivity(step, options, mode, executorOf(step).agentDid).runSagaStep(invocation(step, mode));
      } catch (err) {
        if (lost < MAX_LOST_WORKER_REDISPATCHES && lostWorker(err)) {
          wf.log.warn('step worker stopped heartbeating; dispatching the step again', {
            sagaId,
            stepId: step.id,
            mode,
          });
          continue;
        }
        throw err;
      }
    }
  }

  async function runStep(step: SagaStepDefinition): Promise<void> {
    const sv = stepView(step.id);
    if (step.checkpoint_goal) {
      const goalHash = checkpointGoalHash(step.checkpoint_goal, step.id);
      const found = await sagaControl.findCheckpoint({ sagaId, stepId: step.id, goalHash });
      if (found) {
        Object.assign(sv, { state: 'skipped', result: found.result, completedAtMs: Date.now() });
        committed.push(step.id);
        await report({ kind: 'saga_step_skipped', stepId: step.id, agentDid: step.agent, details: { goalHash } });
        return;
      }
    }
    let decision;
    try {
      decision = await sagaControl.authorizeSagaStep({
        sessionId,
        agentDid: step.agent,
        actionId: step.action_id,
        updateId: `${sagaId}/${step.id}/authorize`,
      });
    } catch (err) {
      return fail(step, `not authorized: ${failureMessage(err)}`);
    }
    if (!decision.allowed) return fail(step, `not authorized: ${decision.reason}`);

    Object.assign(sv, { state: 'executing', startedAtMs: Date.now() });
    await report({
      kind: 'saga_step_started',
      stepId: step.id,
      agentDid: step.agent,
      details: { action: step.action_id },
    });
    for (;;) {
      const { agentDid, epoch } = executorOf(step);
      const entry: { agentDid: string; scope: wf.CancellationScope; handoff?: { substituteDid: string | null } } = {
        agentDid,
        scope: new wf.CancellationScope(),
      };
      inflight.set(step.id, entry);
      try {
        const { result, attempt } = await entry.scope.run(() => dispatch(step, 'execute'));
        Object.assign(sv, { state: 'committed', result, completedAtMs: Date.now(), attempts: attempt });
        committed.push(step.id);
        break;
      } catch (err) {
        // Our own hand-off cancel (the agent was killed), not a saga-wide cancellation.
        if (wf.isCancellation(err) && entry.handoff && !wf.CancellationScope.current().consideredCancelled) {
          const substitute = entry.handoff.substituteDid;
          if (!substitute) return fail(step, `agent ${agentDid} was killed and no substitute took the step over`);
          executors.set(step.id, { agentDid: substitute, epoch: epoch + 1 });
          Object.assign(sv, { agentDid: substitute });
          await report({
            kind: 'saga_step_reassigned',
            stepId: step.id,
            agentDid: substitute,
            details: { from: agentDid, epoch: epoch + 1 },
          });
          const granted = await sagaControl
            .authorizeSagaStep({
              sessionId,
              agentDid: substitute,
              actionId: step.action_id,
              updateId: `${sagaId}/${step.id}/authorize/${epoch + 1}`,
            })
            .catch((e: unknown) => ({ allowed: false, reason: failureMessage(e) }));
          if (!granted.allowed) return fail(step, `substitute ${substitute} not authorized: ${granted.reason}`);
          continue;
        }
        if (wf.isCancellation(err)) {
          Object.assign(sv, { state: 'cancelled', completedAtMs: Date.now(), error: 'cancelled' });
          cancelledStarted.push(step.id);
          await wf.CancellationScope.nonCancellable(() =>
            report({ kind: 'saga_step_cancelled', stepId: step.id, agentDid }),
          );
          throw err;
        }
        return fail(step, failureMessage(err), attemptsOf(err, step));
      } finally {
        inflight.delete(step.id);
      }
    }
    if (step.checkpoint_goal)
      await sagaControl.saveCheckpoint({
        sagaId,
        stepId: step.id,
        goal: step.checkpoint_goal,
        goalHash: checkpointGoalHash(step.checkpoint_goal, step.id),
        result: sv.result,
      });
    await report({ kind: 'saga_step_committed', stepId: step.id, agentDid: step.agent, details: {} });
  }

  async function fail(step: SagaStepDefinition, error: string, attempts = 0): Promise<never> {
    Object.assign(stepView(step.id), { state: 'failed', error, completedAtMs: Date.now(), attempts });
    await report({
      kind: 'saga_step_failed',
      stepId: step.id,
      agentDid: step.agent,
      details: { error: error.slice(0, 1000) },
    });
    throw new StepFailure(`step ${step.id} failed: ${error}`);
  }

  /** Branches in parallel; once the policy's outcome is decided, stragglers are cancelled and every branch settles. */
  async function runFanOut(stage: Extract<SagaStage, { kind: 'fan_out' }>): Promise<void> {
    const need = requiredSuccesses(stage.policy, stage.stepIds.length);
    let ok = 0;
    let failed = 0;
    const scope = new wf.CancellationScope();
    const branches = scope.run(() =>
      Promise.allSettled(
        stage.stepIds.map((id) =>
          runStep(stepsById.get(id)!).then(
            () => void ok++,
            (err: unknown) => {
              if (!wf.isCancellation(err)) failed++;
              throw err;
            },
          ),
        ),
      ),
    );
    await wf.condition(() => ok >= need || failed > stage.stepIds.length - need);
    scope.cancel();
    await branches;
    if (ok >= need) {
      // The outcome is decided without the stragglers: whatever they did is undone now, not left behind.
      const stragglers = cancelledStarted.filter((id) => stage.stepIds.includes(id));
      cancelledStarted.splice(0, cancelledStarted.length, ...cancelledStarted.filter((id) => !stragglers.includes(id)));
      const failures = await wf.CancellationScope.nonCancellable(async () => {
        const out: CompensationFailure[] = [];
        for (const id of stragglers) {
          const failure = await undoStep(id);
          if (failure) out.push(failure);
        }
        return out;
      });
      strandedUndoFailures.push(...failures);
    }
    if (ok < need)
      throw new StepFailure(
        `fan-out ${stage.policy} over [${stage.stepIds.join(', ')}] failed: ${ok} of ${stage.stepIds.length} succeeded, ${need} required`,
      );
  }

  async function compensate(): Promise<CompensationFailure[]> {
    const failures: CompensationFailure[] = [];
    for (const id of [...committed, ...cancelledStarted].reverse()) {
      const failure = await undoStep(id);
      if (failure) failures.push(failure);
    }
    return failures;
  }

  /** Undoes one step, idempotently and with its own attempt budget; returns the failure if it finally failed. */
  async function undoStep(id: string): Promise<CompensationFailure | null> {
    {
      const step = stepsById.get(id)!;
      const sv = stepView(id);
      const wasCancelled = sv.state === 'cancelled';
      sv.state = 'compensating';
      try {
        await dispatch(step, 'undo');
        sv.state = 'compensated';
        if (step.checkpoint_goal) await sagaControl.invalidateCheckpoints({ sagaId, stepId: id, by: 'compensation' });
        await report({ kind: 'saga_step_compensated', stepId: id, agentDid: step.agent, details: { wasCancelled } });
      } catch (err) {
        const error = failureMessage(err);
        Object.assign(sv, { state: 'compensation_failed', compensationError: error });
        await report({
          kind: 'saga_step_compensation_failed',
          stepId: id,
          agentDid: step.agent,
          details: { error: error.slice(0, 1000) },
        });
        return { stepId: id, agentDid: step.agent, error };
      }
      return null;
    }
  }

  setStatus('running');
  await report({ kind: 'saga_started', details: { name: definition.name, steps: definition.steps.length } });
  try {
    for (const stage of planSaga(definition).stages) {
      if (stage.kind === 'step') await runStep(stepsById.get(stage.stepId)!);
      else await runFanOut(stage);
    }
  } catch (err) {
    view.error = wf.isCancellation(err) ? 'saga cancelled' : failureMessage(err);
  }

  if (view.error === null && strandedUndoFailures.length > 0) {
    view.error = 'a cancelled fan-out branch could not be undone';
    await wf.CancellationScope.nonCancellable(() =>
      sagaControl.escalateSaga({
        sagaId,
        sessionId,
        failedSteps: strandedUndoFailures,
        agents: [...new Set(definition.steps.map((s) => s.agent))].sort(),
        reason: view.error!,
      }),
    );
    setStatus('escalated');
  } else if (view.error === null) {
    setStatus('completed');
  } else if (committed.length === 0 && cancelledStarted.length === 0) {
    setStatus('failed');
  } else {
    setStatus('compensating');
    // Compensation must run even when the saga itself is being cancelled.
    const failures = await wf.CancellationScope.nonCancellable(async () => {
      const out = await compensate();
      if (out.length > 0) {
        await sagaControl.escalateSaga({
          sagaId,
          sessionId,
          failedSteps: out,
          agents: [...new Set(definition.steps.map((s) => s.agent))].sort(),
          reason: view.error!,
        });
      }
      return out;
    });
    setStatus(failures.length > 0 ? 'escalated' : 'compensated');
  }
  view.completedAtMs = Date.now();
  await wf.CancellationScope.nonCancellable(async () => {
    // Who caused it: Shapley shares over the agents involved, recorded in the liability ledger. The session slashes the
    // root cause of an escalated saga when its policy says so (it owns the bonds and the policy).
    let rootCause: string | null = null;
    if (view.status !== 'completed') {
      const attribution = await liability.attributeSagaFault({
        sagaId,
        sessionId,
        definition: input.definition,
        steps: view.steps.map((s) => ({ stepId: s.stepId, agentDid: s.agentDid, state: s.state })),
      });
      rootCause = attribution.rootCause;
      await report({
        kind: 'saga_fault_attributed',
        details: { shares: attribution.agents, value: attribution.value, rootCause },
      });
    }
    await report({
      kind: `saga_${view.status}` as RecordSagaEventInput['kind'],
      details: { error: view.error?.slice(0, 1000) ?? null, rootCause },
    });
  });
  return view;
}

function failureMessage(err: unknown): string {
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
function attemptsOf(err: unknown, step: SagaStepDefinition): number {
  const cause = err instanceof wf.ActivityFailure ? err.cause : undefined;
  if (cause instanceof wf.ApplicationFailure && (cause.nonRetryable || cause.type === StepRejectedType)) return 1;
  return step.retries + 1;
}

import type { Json } from './audit-chain.js';
import { requiredSuccesses, type FanOutPolicy, type SagaDefinition, type SagaStepDefinition } from './saga-dsl.js';
import type { SagaView, StepInvocation, StepView } from './saga-types.js';

/** A compensation that finally failed: what the saga's escalation records. */
export interface CompensationFailure {
  stepId: string;
  agentDid: string;
  error: string;
}

/**
 * Who runs a step, under which fencing epoch. A kill hands an in-flight step to a substitute under a bumped epoch;
 * services that fence on (idempotencyKey, epoch) then refuse the killed agent's late completion.
 */
export interface StepExecutor {
  agentDid: string;
  epoch: number;
}

/** What the session is asked before a step runs; `updateId` makes a retried request the same update. */
export interface StepAuthorization {
  sessionId: string;
  agentDid: string;
  actionId: string;
  updateId: string;
}

/**
 * How a saga ends once its stages stop: `completed`, `escalate_stranded` (it succeeded, but a cancelled fan-out branch
 * could not be undone), `failed` (nothing to roll back), or `compensate`.
 */
export type SagaEnding = 'completed' | 'escalate_stranded' | 'failed' | 'compensate';

/** The view of a saga that has not run a step yet. */
export function newSagaView(sagaId: string, definition: SagaDefinition, nowMs: number): SagaView {
  return {
    sagaId,
    sessionId: definition.session_id,
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
    startedAtMs: nowMs,
    completedAtMs: null,
  };
}

/**
 * What one saga run has done so far: the view its progress query answers with, the steps a rollback must undo, and
 * who runs each step. The view is changed in place because the query hands out this very object. Time comes in as an
 * argument (workflow time); nothing here reads a clock.
 */
export class SagaLedger {
  readonly view: SagaView;
  /** Committed (or checkpoint-skipped) steps, in commit order: compensation walks it backwards. */
  readonly committed: string[] = [];
  /** Steps cancelled while running (stragglers): their effect may have landed, so they are undone too. */
  readonly cancelledStarted: string[] = [];
  /** Straggler undos that failed after a fan-out had already succeeded: they escalate the saga at the end. */
  readonly strandedUndoFailures: CompensationFailure[] = [];
  private readonly executors = new Map<string, StepExecutor>();

  constructor(sagaId: string, definition: SagaDefinition, nowMs: number) {
    this.view = newSagaView(sagaId, definition, nowMs);
  }

  /** The view of one step of the definition. */
  step(stepId: string): StepView {
    return this.view.steps.find((s) => s.stepId === stepId)!;
  }

  /** The step's current executor: its own agent at epoch 0 until a kill hands it over. */
  executorOf(step: SagaStepDefinition): StepExecutor {
    return this.executors.get(step.id) ?? { agentDid: step.agent, epoch: 0 };
  }

  /** The session's authorization request for `agentDid` running the step under `epoch`. */
  authorization(step: SagaStepDefinition, agentDid: string, epoch: number): StepAuthorization {
    const updateId = `${this.view.sagaId}/${step.id}/authorize`;
    return {
      sessionId: this.view.sessionId,
      agentDid,
      actionId: step.action_id,
      updateId: epoch === 0 ? updateId : `${updateId}/${epoch}`,
    };
  }

  /** What the step's current executor receives; the key is the same for every attempt of one step and mode. */
  invocation(step: SagaStepDefinition, mode: 'execute' | 'undo'): StepInvocation {
    const { sagaId, sessionId } = this.view;
    return {
      sagaId,
      sessionId,
      stepId: step.id,
      actionId: step.action_id,
      agentDid: this.executorOf(step).agentDid,
      mode,
      api: (mode === 'execute' ? step.execute_api : step.undo_api) ?? '',
      idempotencyKey: `${sagaId}/${step.id}/${mode}`,
      epoch: this.executorOf(step).epoch,
      result: this.step(step.id).result,
    };
  }

  /** An earlier run already achieved the step's checkpoint goal: it counts as committed with that result. */
  skip(stepId: string, result: Json, nowMs: number): void {
    Object.assign(this.step(stepId), { state: 'skipped', result, completedAtMs: nowMs });
    this.committed.push(stepId);
  }

  /** Authorized and dispatched: the step runs now. */
  start(stepId: string, nowMs: number): void {
    Object.assign(this.step(stepId), { state: 'executing', startedAtMs: nowMs });
  }

  /** The step's effect landed: a rollback undoes it. */
  commit(stepId: string, result: Json, attempts: number, nowMs: number): void {
    Object.assign(this.step(stepId), { state: 'committed', result, completedAtMs: nowMs, attempts });
    this.committed.push(stepId);
  }

  /** The step finally failed; a rollback leaves it out. */
  fail(stepId: string, error: string, attempts: number, nowMs: number): void {
    Object.assign(this.step(stepId), { state: 'failed', error, completedAtMs: nowMs, attempts });
  }

  /** Cancelled while running: its effect may have landed, so a rollback undoes it too. */
  cancel(stepId: string, nowMs: number): void {
    Object.assign(this.step(stepId), { state: 'cancelled', completedAtMs: nowMs, error: 'cancelled' });
    this.cancelledStarted.push(stepId);
  }

  /** A substitute takes the step over under `executor.epoch`. */
  reassign(stepId: string, executor: StepExecutor): void {
    this.executors.set(stepId, executor);
    Object.assign(this.step(stepId), { agentDid: executor.agentDid });
  }

  /** The step's undo begins; returns whether the step had been cancelled while running. */
  compensating(stepId: string): boolean {
    const sv = this.step(stepId);
    const wasCancelled = sv.state === 'cancelled';
    sv.state = 'compensating';
    return wasCancelled;
  }

  /** The undo landed. */
  compensated(stepId: string): void {
    this.step(stepId).state = 'compensated';
  }

  /** The undo finally failed: the saga escalates. */
  compensationFailed(stepId: string, error: string): void {
    Object.assign(this.step(stepId), { state: 'compensation_failed', compensationError: error });
  }

  /**
   * Removes the cancelled stragglers of a fan-out that succeeded and returns them: they are undone right away, so a
   * later rollback does not undo them again.
   */
  takeStragglers(stepIds: readonly string[]): string[] {
    const stragglers = this.cancelledStarted.filter((id) => stepIds.includes(id));
    const rest = this.cancelledStarted.filter((id) => !stragglers.includes(id));
    this.cancelledStarted.splice(0, this.cancelledStarted.length, ...rest);
    return stragglers;
  }

  /** The steps a rollback undoes, newest first: the committed ones, then those cancelled while running. */
  compensationOrder(): string[] {
    return [...this.committed, ...this.cancelledStarted].reverse();
  }

  /** How the saga ends, given the error its stages stopped with (`view.error`) and what there is to undo. */
  ending(): SagaEnding {
    if (this.view.error === null && this.strandedUndoFailures.length > 0) return 'escalate_stranded';
    if (this.view.error === null) return 'completed';
    if (this.committed.length === 0 && this.cancelledStarted.length === 0) return 'failed';
    return 'compensate';
  }
}

/**
 * Where a fan-out of `total` branches stands under its policy: `succeeded` once enough branches committed, `failed`
 * once too many failed for that to happen (cancelled branches count as neither), `pending` otherwise.
 */
export function fanOutVerdict(
  policy: FanOutPolicy,
  total: number,
  ok: number,
  failed: number,
): 'pending' | 'succeeded' | 'failed' {
  const need = requiredSuccesses(policy, total);
  if (ok >= need) return 'succeeded';
  if (failed > total - need) return 'failed';
  return 'pending';
}

/** Why a fan-out failed: how many of its branches succeeded against how many its policy required. */
export function fanOutFailureMessage(policy: FanOutPolicy, stepIds: readonly string[], ok: number): string {
  const need = requiredSuccesses(policy, stepIds.length);
  return `fan-out ${policy} over [${stepIds.join(', ')}] failed: ${ok} of ${stepIds.length} succeeded, ${need} required`;
}

/** Every agent a saga's steps name, each once, sorted: the escalation holds them all to account. */
export function involvedAgents(definition: SagaDefinition): string[] {
  return [...new Set(definition.steps.map((s) => s.agent))].sort();
}

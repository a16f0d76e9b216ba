/**
 * Workflow tasks that replay as they ran (docs/DESIGN.md §11.1). Three things made a replayed run see other workflow
 * times than the live one, so record entries with other timestamps (and a chain head the store does not hold) or emit
 * commands in other tasks (`[TMPRL1100]`) once a worker restarted or evicted the run:
 *
 * - **Local activities.** A local activity's result moves workflow time to its completion time, and its marker says
 *   nothing of the task in which the workflow received it: two in flight at once resolve in two activations live and
 *   in one on replay, and a task that also carried a query completes with the marker while the result reaches the
 *   workflow in the next task, where a replay hands it over at once. So runs since {@link STABLE_TASKS_PATCH} use
 *   regular activities instead ({@link byRunVersion}): their results are history events, delivered in the same task
 *   live and on replay.
 * - **Command-less tasks.** The SDK's core replays a workflow task that completed with no command as part of the next
 *   one when that was scheduled right after it (a heartbeat, or an update request that its validator then refused),
 *   so the signals, timers and activity results of the first are applied at the second's time. So a task that
 *   delivered any of those and would complete with no command gets one: a memo upsert (one history event).
 * - **Tasks that only carried updates.** A refused update wakes the run live with the new task's history length and
 *   continue-as-new suggestion; a replay has no such task. So continue-as-new is decided on {@link historyInfo}.
 *
 * All three apply to the hypervisor's workflows in runs that started with the patch; a history recorded before it replays
 * unchanged. This module is bundled as a workflow interceptor module into every bundle (`worker/bundle.ts`), and holds
 * per-run state: the SDK evaluates workflow modules once per run.
 */
import * as wf from '@temporalio/workflow';
import type { coresdk } from '@temporalio/proto';
import {
  AGENT_WORKFLOW_TYPE,
  AUDIT_RETENTION_WORKFLOW_TYPE,
  OPERATOR_REGISTRY_WORKFLOW_TYPE,
  SAGA_WORKFLOW_TYPE,
  SESSION_WORKFLOW_TYPE,
} from './messages.js';

export const STABLE_TASKS_PATCH = 'hv-stable-tasks';

/** The memo key the anchor command upserts. */
export const TASK_ANCHOR_MEMO = 'hvTaskAnchor';

/** The hypervisor's own workflows; anything else in a bundle (the benchmark's probes) runs untouched. */
const GOVERNED_TYPES: ReadonlySet<string> = new Set([
  SESSION_WORKFLOW_TYPE,
  SAGA_WORKFLOW_TYPE,
  AGENT_WORKFLOW_TYPE,
  AUDIT_RETENTION_WORKFLOW_TYPE,
  OPERATOR_REGISTRY_WORKFLOW_TYPE,
]);

let stable = false;

/** What a run may decide continue-as-new on: the history's length and Temporal's suggestion. */
export interface HistoryInfo {
  historyLength: number;
  continueAsNewSuggested: boolean;
}

let seen: HistoryInfo = { historyLength: 0, continueAsNewSuggested: false };

/**
 * The history's length and Temporal's suggestion as of the run's last task that a replay delivers too: one with a
 * signal, timer, activity result or start, not one that only carried updates (a refused update leaves no trace, so a
 * replay has no task in which to see the newer values, and a condition they flipped would flip later there). Runs
 * before the patch read the current task's values, as they did.
 */
export function historyInfo(): HistoryInfo {
  if (!stable) {
    const { historyLength, continueAsNewSuggested } = wf.workflowInfo();
    return { historyLength, continueAsNewSuggested };
  }
  return seen;
}

/**
 * The same activities as local ones (runs before the patch, which replay with their markers) or regular ones (runs
 * since), chosen at each call.
 */
export function byRunVersion<T extends object>(local: T, regular: T): T {
  return new Proxy(regular, {
    get: (_target, name) => Reflect.get(stable ? regular : local, name) as unknown,
  });
}

type Job = coresdk.workflow_activation.IWorkflowActivationJob;
type Command = coresdk.workflow_commands.IWorkflowCommand;

/**
 * Jobs whose task must leave an event of its own: everything but updates (an accepted one leaves its own events, a
 * refused one nothing, as it must), queries, evictions, seeds, patch notices, and local-activity results (their marker
 * is the task's event).
 */
function needsEvent(job: Job): boolean {
  if (job.doUpdate || job.queryWorkflow || job.removeFromCache || job.updateRandomSeed || job.notifyHasPatch)
    return false;
  if (job.resolveActivity?.isLocal) return false;
  return true;
}

/**
 * True when the task's commands surely leave a history event. A timer or an activity cancelled in the same task
 * leaves nothing, a refused update nothing, a query answer or a local activity nothing yet; a lone cancellation may
 * or may not, so it does not count (an anchor too many costs one event, one too few a divergent replay).
 */
function leavesEvent(commands: readonly Command[]): boolean {
  const cancelledTimers = new Set(commands.flatMap((c) => (c.cancelTimer ? [c.cancelTimer.seq] : [])));
  const cancelledActivities = new Set(
    commands.flatMap((c) => (c.requestCancelActivity ? [c.requestCancelActivity.seq] : [])),
  );
  return commands.some(
    (c) =>
      (c.startTimer && !cancelledTimers.has(c.startTimer.seq)) ||
      (c.scheduleActivity && !cancelledActivities.has(c.scheduleActivity.seq)) ||
      c.upsertWorkflowSearchAttributes ||
      c.modifyWorkflowProperties ||
      c.setPatchMarker ||
      c.signalExternalWorkflowExecution ||
      c.startChildWorkflowExecution ||
      c.completeWorkflowExecution ||
      c.failWorkflowExecution ||
      c.continueAsNewWorkflowExecution ||
      c.cancelWorkflowExecution ||
      (c.updateResponse && !c.updateResponse.rejected),
  );
}

const anchor = (): Command => ({
  modifyWorkflowProperties: {
    upsertedMemo: { fields: { [TASK_ANCHOR_MEMO]: wf.defaultPayloadConverter.toPayload(1) } },
  },
});

class StableTasksInbound implements wf.WorkflowInboundCallsInterceptor {
  execute(
    input: wf.WorkflowExecuteInput,
    next: wf.Next<wf.WorkflowInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    // Decided once, before any workflow code runs, so every command of the run is on the same side of it.
    stable = GOVERNED_TYPES.has(wf.workflowInfo().workflowType) && wf.patched(STABLE_TASKS_PATCH);
    return next(input);
  }
}

class StableTasksInternals implements wf.WorkflowInternalsInterceptor {
  private needsEvent = false;

  activate(input: wf.ActivateInput, next: wf.Next<wf.WorkflowInternalsInterceptor, 'activate'>): void {
    // Read before `next`: the SDK takes the start job off the list while it runs the batch.
    if ((input.activation.jobs ?? []).some(needsEvent)) {
      this.needsEvent = true;
      const { historyLength, continueAsNewSuggested } = wf.workflowInfo();
      seen = { historyLength, continueAsNewSuggested };
    }
    next(input);
  }

  concludeActivation(
    input: wf.ConcludeActivationInput,
    next: wf.Next<wf.WorkflowInternalsInterceptor, 'concludeActivation'>,
  ): wf.ConcludeActivationOutput {
    const out = next(input);
    const needed = this.needsEvent;
    this.needsEvent = false;
    if (!stable || !needed || leavesEvent(out.commands)) return out;
    return { commands: [...out.commands, anchor()] };
  }
}

export const interceptors: wf.WorkflowInterceptorsFactory = () => ({
  inbound: [new StableTasksInbound()],
  internals: [new StableTasksInternals()],
});

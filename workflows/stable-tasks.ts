/**
 * Workflow tasks that replay as they ran (docs/DESIGN.md §11.1). Two things made a replayed run see different workflow
 * times than the live one, so record entries with other timestamps (and a chain head the store does not hold) or emit
 * other commands (`[TMPRL1100]`) once a worker restarted or evicted the run:
 *
 * - **Concurrent local activities.** Each resolution moves workflow time to the activity's completion time. Live, two
 *   local activities in flight at once resolve in two activations; a replay resolves both from their markers in one,
 *   at the later time. So a run's local activities go one at a time ({@link oneAtATime}).
 * - **Command-less tasks.** The SDK's core replays a workflow task that completed with no command as part of the next
 *   one when that was scheduled right after it (a heartbeat, or an update request that its validator then refused),
 *   so the signals, timers and activity results of the first are applied at the second's time. So a task that
 *   delivered any of those and would complete with no command gets one: a memo upsert (one history event).
 *
 * Both apply to runs that started with {@link STABLE_TASKS_PATCH}; a history recorded before it replays unchanged.
 * This module is bundled as a workflow interceptor module into every bundle (`worker/bundle.ts`), and holds per-run
 * state: the SDK evaluates workflow modules once per run.
 */
import * as wf from '@temporalio/workflow';
import type { coresdk } from '@temporalio/proto';

export const STABLE_TASKS_PATCH = 'hv-stable-tasks';

/** The memo key the anchor command upserts. */
export const TASK_ANCHOR_MEMO = 'hvTaskAnchor';

let stable = false;
/** Local activities of this run not yet settled, chained: the next one starts when the last one has settled. */
let lane: Promise<void> | null = null;

/** True when this run keeps its tasks replay-stable (it started with the patch). */
export const stableTasks = (): boolean => stable;

/**
 * Starts `call` (a local activity) once the run's previous local activity has settled; at once when none is in flight
 * or the run predates the patch.
 */
export function oneAtATime<R>(call: () => Promise<R>): Promise<R> {
  if (!stable) return call();
  const run = lane ? lane.then(call) : call();
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  lane = settled;
  void settled.then(() => {
    if (lane === settled) lane = null;
  });
  return run;
}

/** A local-activity proxy whose every call goes through {@link oneAtATime}. */
export function serialLocalActivities<T extends object>(proxy: T): T {
  return new Proxy(proxy, {
    get(target, name) {
      const fn = Reflect.get(target, name) as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) => oneAtATime(() => fn(...args));
    },
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
export function leavesEvent(commands: readonly Command[]): boolean {
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
    stable = wf.patched(STABLE_TASKS_PATCH);
    return next(input);
  }
}

class StableTasksInternals implements wf.WorkflowInternalsInterceptor {
  private needsEvent = false;

  activate(input: wf.ActivateInput, next: wf.Next<wf.WorkflowInternalsInterceptor, 'activate'>): void {
    // Read before `next`: the SDK takes the start job off the list while it runs the batch.
    if ((input.activation.jobs ?? []).some(needsEvent)) this.needsEvent = true;
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

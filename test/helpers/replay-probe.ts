import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Worker, bundleWorkflowCode } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { workflowBundleOptions } from '../../worker/bundle.js';

const probeModule = fileURLToPath(new URL('./replay-probe-interceptors.ts', import.meta.url));
let probeBundle: Promise<{ code: string }> | undefined;

/** The production bundle plus the probe interceptors (built once per test file). */
function bundle(): Promise<{ code: string }> {
  const options = workflowBundleOptions();
  return (probeBundle ??= bundleWorkflowCode({
    ...options,
    workflowInterceptorModules: [...(options.workflowInterceptorModules ?? []), probeModule],
    logger: new DefaultLogger('WARN'),
  }));
}

interface Sent {
  kind: 'activity' | 'signal';
  name: string;
  args: unknown;
}

/** What the history says the run scheduled and signalled, in order, with decoded inputs. */
function recorded(history: temporal.api.history.v1.IHistory): Sent[] {
  const args = (payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown[] =>
    (payloads?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p));
  return (history.events ?? []).flatMap((e): Sent[] => {
    const act = e.activityTaskScheduledEventAttributes;
    if (act) return [{ kind: 'activity', name: act.activityType?.name ?? '', args: args(act.input) }];
    const sig = e.signalExternalWorkflowExecutionInitiatedEventAttributes;
    if (sig) return [{ kind: 'signal', name: sig.signalName ?? '', args: args(sig.input) }];
    return [];
  });
}

/**
 * Replays one run from scratch (as a restarted worker or an evicted cache does) and compares every activity input and
 * outgoing signal with the history's: null when the replay gives the same commands with the same inputs, else the
 * first difference. A run still open replays up to its last completed task, so the replay may send more. The replay
 * runs under the run's own workflow id (a history does not hold it, and operator commands are signed for it).
 */
export async function replayDivergence(client: Client, workflowId: string, runId?: string): Promise<string | null> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const sent: Sent[] = [];
  const sinks = {
    probe: {
      command: {
        fn: (_info: unknown, kind: Sent['kind'], name: string, json: string) =>
          void sent.push({ kind, name, args: JSON.parse(json) as unknown }),
        callDuringReplay: true,
      },
    },
  };
  const failure = await Worker.runReplayHistory(
    { workflowBundle: await bundle(), replayName: `${workflowId}/${runId ?? 'latest'}`, sinks },
    history,
    workflowId,
  ).then(
    () => null,
    (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 400),
  );
  const problem = failure ? `${workflowId}: ${failure}` : firstDifference(workflowId, recorded(history), sent);
  // HV_REPLAY_DUMP=1 keeps the history of a run that does not replay, for a closer look.
  if (problem && process.env.HV_REPLAY_DUMP)
    writeFileSync(`/tmp/probe-${(runId ?? workflowId).replace(/[^a-z0-9-]/gi, '_')}.json`, historyToJSON(history));
  return problem;
}

function firstDifference(workflowId: string, live: Sent[], sent: Sent[]): string | null {
  for (const [i, want] of live.entries()) {
    const [got, recordedText] = [JSON.stringify(sent[i]) ?? 'nothing', JSON.stringify(want)];
    if (got !== recordedText) {
      let at = 0;
      while (got[at] === recordedText[at]) at++;
      const around = (text: string) => text.slice(Math.max(0, at - 60), at + 60);
      return `${workflowId}: command ${i} (${want.kind} ${want.name}) differs at character ${at}: replayed …${around(got)}…, recorded …${around(recordedText)}…`;
    }
  }
  return null;
}

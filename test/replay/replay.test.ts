import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DeterminismViolationError } from '@temporalio/workflow';
import { DefaultLogger, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry/lib/worker/index.js';
import { describe, expect, inject, it } from 'vitest';
import { workflowBundleOptions } from '../../worker/bundle.js';

const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));
const quiet = new DefaultLogger('ERROR', () => undefined);

/** The fixtures, each with the workflow id it ran under when the recorder kept it (older fixtures: the SDK's `fake`). */
async function fixtures(): Promise<Array<{ name: string; history: unknown; workflowId: string | undefined }>> {
  const names = (await readdir(historiesDir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    names.map(async (name) => ({
      name,
      history: JSON.parse(await readFile(historiesDir + name, 'utf8')) as unknown,
      workflowId: await readFile(historiesDir + name.replace(/\.json$/, '.workflow-id'), 'utf8').then(
        (id) => id.trim(),
        () => undefined,
      ),
    })),
  );
}

describe('replay of recorded session histories', () => {
  // The `-audit-v1` session histories were recorded before the `hv-audit-v2` patch and the `-pre-stable` ones before
  // `hv-stable-tasks` (local activities, no task anchors); neither is ever re-recorded: they prove that runs started
  // on those paths still replay under today's code. The others are re-recorded with each intended change.
  it('has fixtures for sessions (full, timeout, continue-as-new), a retention pass, a compensated saga and an agent', async () => {
    expect((await fixtures()).map((f) => f.name)).toEqual([
      'agent-kill-switch-pre-stable.json',
      'agent-kill-switch.json',
      'audit-retention-pre-stable.json',
      'audit-retention.json',
      'saga-compensated-pre-stable.json',
      'saga-compensated.json',
      'session-continued-audit-v1.json',
      'session-continued-pre-stable.json',
      'session-continued.json',
      'session-full-audit-v1.json',
      'session-full-pre-stable.json',
      'session-full.json',
      'session-timeout-audit-v1.json',
      'session-timeout-pre-stable.json',
      'session-timeout.json',
    ]);
  });

  it('replays every fixture against the current workflow code without non-determinism', async () => {
    for (const { name, history, workflowId } of await fixtures()) {
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: name },
          history,
          workflowId,
        ),
        name,
      ).resolves.toBeUndefined();
    }
  });

  // The SDK's OpenTelemetry interceptors wrap signals and outbound calls in async layers of their own, which moves
  // commands by microtasks: tracing on or off is a workflow code change (README "Tracing"). These fixtures were
  // recorded untraced; the saga and the plain session ones replay traced, the two below do not.
  it('replays the saga and session fixtures with the tracing interceptors, and a replay exports no span', async () => {
    const traced = await bundleWorkflowCode({ ...workflowBundleOptions({ traced: true }), logger: quiet });
    const exporter = new InMemorySpanExporter();
    const sinks = { exporter: makeWorkflowExporter(new SimpleSpanProcessor(exporter), new Resource({})) };
    const outcome: Record<string, string> = {};
    for (const { name, history, workflowId } of await fixtures())
      outcome[name] = await Worker.runReplayHistory(
        { workflowBundle: traced, replayName: `${name} traced`, sinks },
        history,
        workflowId,
      ).then(
        () => 'replays',
        (err: unknown) => (err instanceof DeterminismViolationError ? 'nondeterministic' : `${(err as Error).message}`),
      );
    expect(outcome).toEqual({
      'agent-kill-switch-pre-stable.json': 'replays',
      // Recorded with hv-stable-tasks, the identity (regular activities for its directory, keys and signatures) does
      // not replay traced, like the v1 continued session: turning tracing on is a workflow code change for it.
      'agent-kill-switch.json': 'nondeterministic',
      'audit-retention-pre-stable.json': 'replays',
      'audit-retention.json': 'replays',
      'saga-compensated-pre-stable.json': 'replays',
      'saga-compensated.json': 'replays',
      'session-continued-audit-v1.json': 'nondeterministic',
      'session-continued-pre-stable.json': 'replays',
      'session-continued.json': 'replays',
      'session-full-audit-v1.json': 'replays',
      'session-full-pre-stable.json': 'replays',
      'session-full.json': 'replays',
      'session-timeout-audit-v1.json': 'replays',
      'session-timeout-pre-stable.json': 'replays',
      'session-timeout.json': 'replays',
    });
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('fails when the workflow code diverges from a recorded history', async () => {
    const changed = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('../fixtures/session-workflow-changed.ts', import.meta.url)),
      logger: quiet,
    });
    const first = (await fixtures()).find((f) => f.name === 'session-full.json');
    await expect(
      Worker.runReplayHistory({ workflowBundle: changed, replayName: 'changed' }, first!.history),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});

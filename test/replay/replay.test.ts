import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DeterminismViolationError } from '@temporalio/workflow';
import { DefaultLogger, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const historiesDir = fileURLToPath(new URL('./histories/', import.meta.url));
const quiet = new DefaultLogger('ERROR', () => undefined);

async function fixtures(): Promise<Array<{ name: string; history: unknown }>> {
  const names = (await readdir(historiesDir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    names.map(async (name) => ({ name, history: JSON.parse(await readFile(historiesDir + name, 'utf8')) as unknown })),
  );
}

describe('replay of recorded session histories', () => {
  // The `-audit-v1` session histories were recorded before the `hv-audit-v2` patch and are never re-recorded: they
  // prove that a run that started writing v1 entries still replays (without the patch marker) under today's code.
  it('has fixtures for sessions (full, timeout, continue-as-new), a retention pass, a compensated saga and an agent', async () => {
    expect((await fixtures()).map((f) => f.name)).toEqual([
      'agent-kill-switch.json',
      'audit-retention.json',
      'saga-compensated.json',
      'session-continued-audit-v1.json',
      'session-continued.json',
      'session-full-audit-v1.json',
      'session-full.json',
      'session-timeout-audit-v1.json',
      'session-timeout.json',
    ]);
  });

  it('replays every fixture against the current workflow code without non-determinism', async () => {
    for (const { name, history } of await fixtures()) {
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: name },
          history,
        ),
        name,
      ).resolves.toBeUndefined();
    }
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

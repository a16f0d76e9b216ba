import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionHandle } from '../../client/hypervisor-client.js';
import { computeBuildInfo, currentBuildInfo } from '../../worker/build-info.js';
import { did, eventually, newSession } from '../helpers/session.js';
import { connectTestTemporal, uniqueTaskQueue, type TemporalTestContext } from '../helpers/temporal.js';
import { killWorker, spawnWorker } from '../helpers/worker-process.js';

let ctx: TemporalTestContext;
const children: ChildProcess[] = [];
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) await killWorker(child);
  await ctx?.close();
});

/** A worker process on `taskQueue` whose HTTP port is reported back, with the given build id and deployment. */
async function worker(taskQueue: string, env: Record<string, string>): Promise<void> {
  children.push(await spawnWorker(taskQueue, env));
}

/** The deployment versions that completed the session's workflow tasks, in order (consecutive repeats folded). */
async function versionsOf(session: SessionHandle): Promise<string[]> {
  const history = await session.workflow.fetchHistory();
  const seen: string[] = [];
  for (const e of history.events ?? []) {
    const done = e.workflowTaskCompletedEventAttributes;
    if (!done) continue;
    const buildId = done.deploymentVersion?.buildId ?? done.workerVersion?.buildId ?? '';
    if (seen.at(-1) !== buildId) seen.push(buildId);
  }
  return seen;
}

describe('build id', () => {
  it('is the package version and the git commit, `-src` from the sources, and HV_BUILD_ID overrides it', () => {
    const built = computeBuildInfo({ HV_GIT_SHA: 'abc123' });
    expect(built.buildId).toBe(`${built.version}+abc123`);
    expect(built.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(computeBuildInfo({}).gitSha).toMatch(/^([0-9a-f]{12}|unknown)$/);
    expect(currentBuildInfo({ HV_GIT_SHA: 'abc123' }).buildId).toBe(`${built.version}+abc123-src`);
    expect(currentBuildInfo({ HV_BUILD_ID: 'x.y+z' }).buildId).toBe('x.y+z');
  });
});

describe('Temporal worker deployment versioning', () => {
  it('without versioning, every task records the build id of the worker that ran it', async () => {
    const taskQueue = uniqueTaskQueue('build-id');
    const buildId = `0.0.0+unversioned-${randomUUID().slice(0, 8)}`;
    await worker(taskQueue, { HV_BUILD_ID: buildId });
    const { session } = await newSession(ctx, taskQueue);
    await session.join({ agentDid: did('a'), sigmaRaw: 0.9, actions: [] });
    expect(await versionsOf(session)).toEqual([buildId]);
  });

  it('routes to the promoted build only; a running session moves on promotion and back on rollback', async () => {
    const taskQueue = uniqueTaskQueue('versioned');
    const deploymentName = `hv-test-${randomUUID().slice(0, 8)}`;
    const [v1, v2] = ['1.0.0+aaaa', '1.1.0+bbbb'];
    const versioned = { HV_WORKER_VERSIONING: 'true', HV_WORKER_DEPLOYMENT_NAME: deploymentName };
    const promote = (buildId: string) =>
      eventually(
        () =>
          ctx.client.workflowService
            .setWorkerDeploymentCurrentVersion({
              namespace: ctx.client.options.namespace,
              deploymentName,
              buildId,
              identity: 'worker-versioning.test',
            })
            .then(
              () => 'ok',
              (err: unknown) => (err as Error).message,
            ),
        (outcome) => outcome === 'ok',
        30_000,
      );
    await worker(taskQueue, { ...versioned, HV_BUILD_ID: v1 });
    await promote(v1); // retried until the server has seen the v1 poller
    const { session } = await newSession(ctx, taskQueue);
    const agent = did('a');
    await session.join({ agentDid: agent, sigmaRaw: 0.9, actions: [] });
    expect(await versionsOf(session)).toEqual([v1]);

    // v2 polls but is not promoted: it takes nothing.
    await worker(taskQueue, { ...versioned, HV_BUILD_ID: v2 });
    const other = did('b');
    await session.join({ agentDid: other, sigmaRaw: 0.9, actions: [] });
    expect(await versionsOf(session)).toEqual([v1]);

    // Roll out: the running session (AUTO_UPGRADE) moves to v2 at its next task.
    await promote(v2);
    await session.activate();
    expect(await versionsOf(session)).toEqual([v1, v2]);

    // Roll back: one command, and the session is on v1 again.
    await promote(v1);
    await session.leave({ agentDid: other });
    expect(await versionsOf(session)).toEqual([v1, v2, v1]);
    const described = await session.workflow.describe();
    expect(described.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId).toBe(v1);
  });
});

import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { inject } from 'vitest';
import { testActivities } from './audit.js';

export interface TemporalTestContext {
  client: Client;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

/** Connects to the dev server started by the global setup. One per test file (in `beforeAll`). */
export async function connectTestTemporal(): Promise<TemporalTestContext> {
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    client: new Client({ connection }),
    nativeConnection,
    async close() {
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** A task queue nobody else polls, so parallel tests never pick up each other's tasks. */
export const uniqueTaskQueue = (label = 'test'): string => `${label}-${randomUUID()}`;

/**
 * Runs `fn` while a worker with the pre-built workflow bundle and the real activities (test database) polls
 * `taskQueue`, then shuts the worker down.
 */
export async function withWorker<T>(
  ctx: TemporalTestContext,
  options: { taskQueue: string } & Partial<Omit<WorkerOptions, 'connection' | 'taskQueue'>>,
  fn: (worker: Worker) => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    connection: ctx.nativeConnection,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: testActivities({ taskQueue: options.taskQueue }),
    ...options,
  });
  return worker.runUntil(() => fn(worker));
}

/**
 * Every run of `workflowId` (continue-as-new chains included) with the workflow-task failures in its history. Pages
 * of large events (a join's manifest is up to ~1 MB) can pass the client's 4 MB message limit: pass a small
 * `pageSize` for those (the server pages by event count).
 */
export async function runsOf(
  client: Client,
  workflowId: string,
  pageSize = 256,
): Promise<{ runId: string; taskFailures: number }[]> {
  const runs: { runId: string; taskFailures: number }[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    let taskFailures = 0;
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId, runId: w.runId },
        maximumPageSize: pageSize,
        nextPageToken,
      });
      taskFailures += (page.history?.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes != null).length;
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    runs.push({ runId: w.runId, taskFailures });
  }
  return runs;
}

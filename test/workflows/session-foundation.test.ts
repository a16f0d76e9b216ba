import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorType } from '../../domain/errors.js';
import { sessionWorkflow } from '../../workflows/session.js';
import { getSessionStateQuery, sessionWorkflowId, terminateSessionUpdate } from '../../workflows/messages.js';
import { connectTestTemporal, uniqueTaskQueue, withWorker, type TemporalTestContext } from '../helpers/temporal.js';

let ctx: TemporalTestContext;
beforeAll(async () => {
  ctx = await connectTestTemporal();
});
afterAll(async () => {
  await ctx.close();
});

describe('session workflow on the real dev server', () => {
  it('starts in handshaking, answers queries and completes when terminated', async () => {
    const taskQueue = uniqueTaskQueue();
    const sessionId = randomUUID();
    await withWorker(ctx, { taskQueue }, async () => {
      const handle = await ctx.client.workflow.start(sessionWorkflow, {
        taskQueue,
        workflowId: sessionWorkflowId(sessionId),
        args: [{ sessionId, creatorDid: 'did:mesh:creator', config: { maxParticipants: 3 } }],
      });
      const view = await handle.query(getSessionStateQuery);
      expect(view).toMatchObject({ sessionId, creatorDid: 'did:mesh:creator', state: 'handshaking' });
      expect(view.config).toMatchObject({ maxParticipants: 3, maxDurationSeconds: 3600, minEffScore: 0.6 });

      const commitment = await handle.executeUpdate(terminateSessionUpdate, { args: [{ reason: 'done' }] });
      expect(commitment).toMatchObject({ sessionId, state: 'archived', reason: 'done' });
      expect(await handle.result()).toEqual(commitment);
      const description = await handle.describe();
      expect(description.status.name).toBe('COMPLETED');
    });
  });

  it('rejects a malformed terminate update without writing it to history', async () => {
    const taskQueue = uniqueTaskQueue();
    const sessionId = randomUUID();
    await withWorker(ctx, { taskQueue }, async () => {
      const handle = await ctx.client.workflow.start(sessionWorkflow, {
        taskQueue,
        workflowId: sessionWorkflowId(sessionId),
        args: [{ sessionId, creatorDid: 'did:mesh:creator', config: {} }],
      });
      await handle.query(getSessionStateQuery);
      const before = (await handle.fetchHistory()).events?.length ?? 0;
      const failure = await handle
        .executeUpdate(terminateSessionUpdate, { args: [{ reason: 42 } as never] })
        .catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(WorkflowUpdateFailedError);
      const cause = (failure as WorkflowUpdateFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect((cause as ApplicationFailure).type).toBe(ErrorType.InvalidInput);
      const after = (await handle.fetchHistory()).events?.length ?? 0;
      expect(after).toBe(before);
      expect((await handle.query(getSessionStateQuery)).state).toBe('handshaking');
      await handle.terminate('test cleanup');
    });
  });
});

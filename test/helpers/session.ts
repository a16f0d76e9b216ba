import { randomUUID } from 'node:crypto';
import { testKeyring } from './operators.js';
import { expect } from 'vitest';
import type { ActionDescriptorInput } from '../../domain/actions.js';
import type { ErrorType } from '../../domain/errors.js';
import type { SessionConfigInput } from '../../domain/session-config.js';
import { HypervisorError } from '../../client/errors.js';
import { HypervisorClient, type SessionHandle } from '../../client/hypervisor-client.js';
import type { TemporalTestContext } from './temporal.js';

export const did = (name: string): string => `did:mesh:${name}-${randomUUID().slice(0, 8)}`;

export const actions = {
  read: { actionId: 'read-docs', name: 'read docs', reversibility: 'full', isReadOnly: true },
  edit: { actionId: 'edit-doc', name: 'edit doc', reversibility: 'full', undoApi: '/undo/edit' },
  deploy: { actionId: 'deploy', name: 'deploy to prod', reversibility: 'none' },
  admin: { actionId: 'rotate-keys', name: 'rotate keys', reversibility: 'partial', isAdmin: true },
} satisfies Record<string, ActionDescriptorInput>;
export const allActions = Object.values(actions);

export async function newSession(
  ctx: TemporalTestContext,
  taskQueue: string,
  config: SessionConfigInput = {},
  creatorDid = did('creator'),
): Promise<{ session: SessionHandle; hv: HypervisorClient; creatorDid: string }> {
  const hv = HypervisorClient.fromClient(ctx.client, taskQueue, { operator: testKeyring });
  const session = await hv.createSession({ creatorDid, config });
  return { session, hv, creatorDid };
}

/** Asserts that `promise` rejects with a HypervisorError of `type` and returns it for further checks. */
export async function expectHvError(promise: Promise<unknown>, type: ErrorType): Promise<HypervisorError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HypervisorError);
  expect((err as HypervisorError).type).toBe(type);
  return err as HypervisorError;
}

export async function historyLength(session: SessionHandle): Promise<number> {
  return (await session.workflow.fetchHistory()).events?.length ?? 0;
}

/**
 * Waits for a condition observed through queries (durable timers fire on the server's clock). Never a fixed sleep:
 * it returns as soon as the condition holds and fails after `timeoutMs`.
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Waits until the session's audit outbox is empty (every entry acknowledged by the store), so that history stops
 * growing from audit flushes before a test compares history lengths.
 */
export async function auditSettled(session: SessionHandle): Promise<void> {
  await eventually(
    () => session.view(),
    (v) => v.audit.pending === 0 && v.audit.persistedSeq === v.audit.entries,
  );
}

import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { ErrorType } from '../domain/errors.js';
import { signCommand, type OperatorSigner } from '../domain/operator-command.js';
import * as msg from '../workflows/messages.js';
import { HypervisorError, toHypervisorError } from './errors.js';

export type { OperatorSigner };

/**
 * Who signs a control command in whose name: a single operator key ({@link singleOperator}), or (tests, multi-operator
 * tools) a keyring that holds keys for several DIDs. `undefined` actor: the command names nobody, the default key signs.
 */
export interface OperatorKeyring {
  signerFor(actorDid: string | undefined): OperatorSigner | undefined | Promise<OperatorSigner | undefined>;
}

/** One operator key: signs the commands that name its DID or nobody. */
export const singleOperator = (signer: OperatorSigner): OperatorKeyring => ({
  signerFor: (did) => (did === undefined || did === signer.did ? signer : undefined),
});

/** How long a command the client signs stays valid (the workflow refuses more than 10 minutes). */
export const COMMAND_LIFETIME_MS = 2 * 60_000;

/** Signs `args` (already validated, as they will be sent) for `cmd` on `workflowId`: the input plus its `auth` block. */
export function signedArgs<T extends object>(
  signer: OperatorSigner,
  cmd: string,
  workflowId: string,
  args: T,
): T & { auth: ReturnType<typeof signCommand> } {
  // What is signed is what the server receives: the JSON form (undefined fields dropped).
  const wire = JSON.parse(JSON.stringify(args)) as T;
  const auth = signCommand({
    signer,
    cmd,
    workflowId,
    args: wire,
    nowMs: Date.now(),
    nonce: randomBytes(16).toString('base64url'),
    lifetimeMs: COMMAND_LIFETIME_MS,
  });
  return { ...wire, auth };
}

/** A refusal that a directory refresh may cure: the key is new to the workflow (registered, rotated, or loading). */
export function refusedForKey(err: unknown): boolean {
  const mapped = toHypervisorError(err);
  if (!(mapped instanceof HypervisorError) || mapped.type !== ErrorType.PermissionDenied) return false;
  const reason = mapped.details.reason;
  return reason === 'unknown_key' || reason === 'revoked_key';
}

/**
 * Runs a signed command; when it is refused for its key, asks the workflow to re-read the operator directory
 * (`refreshOperatorKeys`, which anyone may send) and tries once more with a fresh signature.
 */
export async function withKeyRefresh<T>(handle: WorkflowHandle, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    if (!refusedForKey(err)) throw err;
    await handle.executeUpdate(msg.refreshOperatorKeysUpdate).catch(() => undefined);
    return await send();
  }
}

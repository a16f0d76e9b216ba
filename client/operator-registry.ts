import type { Client } from '@temporalio/client';
import type { OperatorDirectory, OperatorEntry } from '../domain/operators.js';
import {
  RegisterOperatorKeyInput,
  RevokeOperatorKeyInput,
  type RegisterOperatorKeyInput as RegisterInput,
} from '../domain/operator-registry.js';
import { parseInput } from '../domain/validation.js';
import * as msg from '../workflows/messages.js';
import type { operatorRegistryWorkflow } from '../workflows/operator-registry.js';
import { guard, toHypervisorError } from './errors.js';
import { signedArgs, withKeyRefresh, type OperatorKeyring } from './operator-signing.js';

/**
 * The namespace's operator registry (docs/DESIGN.md §13): registering, rotating and revoking operator keys, each a
 * command signed by the caller's operator key. The registry workflow is started on first use (its start arguments
 * carry nothing it trusts).
 */
export class OperatorRegistryHandle {
  constructor(
    private readonly temporal: Client,
    private readonly taskQueue: string,
    private readonly operators: OperatorKeyring | undefined,
  ) {}

  private async handle() {
    return await this.temporal.workflow
      .start<typeof operatorRegistryWorkflow>(msg.OPERATOR_REGISTRY_WORKFLOW_TYPE, {
        taskQueue: this.taskQueue,
        workflowId: msg.OPERATOR_REGISTRY_WORKFLOW_ID,
        workflowIdConflictPolicy: 'USE_EXISTING',
        args: [{}],
        staticSummary: 'operator registry',
      })
      .catch((err: unknown) => {
        throw toHypervisorError(err);
      });
  }

  private async signed(def: typeof msg.registerOperatorKeyUpdate | typeof msg.revokeOperatorKeyUpdate, args: object) {
    const signer = await this.operators?.signerFor(undefined);
    const handle = await this.handle();
    const send = (payload: unknown) =>
      handle.executeUpdate(def as typeof msg.registerOperatorKeyUpdate, { args: [payload as RegisterInput] });
    try {
      if (!signer) return await send(args);
      return await withKeyRefresh(handle, () => send(signedArgs(signer, def.name, handle.workflowId, args)));
    } catch (err) {
      throw toHypervisorError(err);
    }
  }

  /** Adds a key (a new operator: admins only; your own DID: a rotation, signed by a key you hold). */
  register(input: RegisterInput): Promise<OperatorEntry> {
    const parsed = guard(() => parseInput(RegisterOperatorKeyInput, input, 'operator key'));
    return this.signed(msg.registerOperatorKeyUpdate, parsed);
  }

  /** Revokes a key from now on (an admin, or the key's own operator). */
  revoke(kid: string): Promise<OperatorEntry> {
    const parsed = guard(() => parseInput(RevokeOperatorKeyInput, { kid }, 'key revocation'));
    return this.signed(msg.revokeOperatorKeyUpdate, parsed);
  }

  /** The registry's directory (the bootstrap admin of the worker's configuration included). */
  async directory(): Promise<OperatorDirectory> {
    const handle = await this.handle();
    await handle.executeUpdate(msg.refreshOperatorKeysUpdate).catch(() => undefined);
    return await handle.query(msg.getOperatorDirectoryQuery);
  }
}

import * as wf from '@temporalio/workflow';
import { historyInfo } from './stable-tasks.js';
import { ErrorType, hvError } from '../domain/errors.js';
import type { NonceBook } from '../domain/operator-command.js';
import {
  RegisterOperatorKeyInput,
  RevokeOperatorKeyInput,
  registerOperatorKey,
  revokeOperatorKey,
} from '../domain/operator-registry.js';
import type { OperatorDirectory, OperatorEntry } from '../domain/operators.js';
import { parseInput } from '../domain/validation.js';
import { operatorMirror } from './activity-proxies.js';
import * as msg from './messages.js';
import { OperatorKeys } from './operator-keys.js';

/** Start arguments: nothing trusted. The bootstrap admin comes from the worker's configuration, the rest from the mirror. */
export interface OperatorRegistryInput {
  carried?: { nonces: NonceBook };
}

type Change = (
  directory: OperatorDirectory,
  signer: Parameters<typeof registerOperatorKey>[1],
  input: never,
  nowMs: number,
) => { directory: OperatorDirectory; entry: OperatorEntry };

/**
 * The namespace's operator registry (docs/DESIGN.md §13, id `operator-registry`): operator DID → role and Ed25519
 * keys. Every change is a signed command, verified like any control command and then ruled on by
 * `domain/operator-registry.ts`; it is mirrored to Postgres before the update answers, so the next run (and every
 * session and identity workflow) reads it from there.
 */
export async function operatorRegistryWorkflow(input: OperatorRegistryInput = {}): Promise<void> {
  const keys = new OperatorKeys(input.carried?.nonces);
  keys.registerRefresh();
  const current = (): OperatorDirectory => {
    if (!keys.directory)
      throw hvError(ErrorType.PermissionDenied, 'operator command refused (unknown_key): the directory is loading', {
        reason: 'unknown_key',
      });
    return keys.directory;
  };
  const register = <S extends typeof RegisterOperatorKeyInput | typeof RevokeOperatorKeyInput>(
    def: typeof msg.registerOperatorKeyUpdate | typeof msg.revokeOperatorKeyUpdate,
    schema: S,
    change: Change,
  ) => {
    const check = (raw: unknown) => {
      const { signer, args } = keys.verify(def.name, raw, { kind: 'identity' });
      const parsed = parseInput(schema, args, def.name);
      return { signer, parsed, out: change(current(), signer, parsed as never, Date.now()) };
    };
    wf.setHandler(
      def as typeof msg.registerOperatorKeyUpdate,
      async (raw) => {
        const { signer, out } = check(raw);
        keys.accept(signer);
        keys.replace(out.directory);
        await operatorMirror.mirrorOperatorDirectory({ directory: out.directory });
        return out.entry;
      },
      { validator: (raw) => void check(raw) },
    );
  };
  register(msg.registerOperatorKeyUpdate, RegisterOperatorKeyInput, registerOperatorKey as Change);
  register(msg.revokeOperatorKeyUpdate, RevokeOperatorKeyInput, revokeOperatorKey as Change);
  wf.setHandler(msg.getOperatorDirectoryQuery, () => keys.directory ?? { operators: [] });

  await wf.condition(() => historyInfo().continueAsNewSuggested);
  await wf.condition(wf.allHandlersFinished);
  await wf.continueAsNew<typeof operatorRegistryWorkflow>({ carried: { nonces: keys.nonces } });
}

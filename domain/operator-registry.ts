import { z } from 'zod';
import { ErrorType, hvError } from './errors.js';
import { AgentDid } from './identifiers.js';
import type { CommandSigner } from './operator-command.js';
import {
  Ed25519PublicKeyHex,
  Kid,
  MAX_KEYS_PER_OPERATOR,
  MAX_OPERATORS,
  OperatorRole,
  kidOf,
  type OperatorDirectory,
  type OperatorEntry,
} from './operators.js';

/**
 * The registry's own rules (docs/DESIGN.md §13): key registration, rotation and revocation are signed commands to
 * the `operator-registry` workflow. An admin adds operators and keys and changes roles; an operator adds keys to
 * itself (a rotation, signed by a key it already holds) and revokes its own keys; nobody raises their own role.
 */

export const RegisterOperatorKeyInput = z.strictObject({
  did: AgentDid,
  publicKey: Ed25519PublicKeyHex,
  /** Only an admin may set it; a new operator defaults to `operator`. */
  role: OperatorRole.optional(),
});
export type RegisterOperatorKeyInput = z.input<typeof RegisterOperatorKeyInput>;

export const RevokeOperatorKeyInput = z.strictObject({ kid: Kid });
export type RevokeOperatorKeyInput = z.input<typeof RevokeOperatorKeyInput>;

const denied = (message: string, details: Record<string, unknown> = {}) =>
  hvError(ErrorType.PermissionDenied, message, details);

const replace = (directory: OperatorDirectory, entry: OperatorEntry): OperatorDirectory => {
  const others = directory.operators.filter((op) => op.did !== entry.did);
  return { operators: [...others, entry] };
};

/** Adds a key (and the operator, when new). Returns the new directory and the operator's entry. */
export function registerOperatorKey(
  directory: OperatorDirectory,
  signer: CommandSigner,
  input: z.output<typeof RegisterOperatorKeyInput>,
  nowMs: number,
): { directory: OperatorDirectory; entry: OperatorEntry } {
  const kid = kidOf(input.publicKey);
  if (directory.operators.some((op) => op.keys.some((k) => k.kid === kid)))
    throw hvError(ErrorType.InvalidInput, `key ${kid} is already registered`, { kid });
  const existing = directory.operators.find((op) => op.did === input.did);
  if (signer.role !== 'admin') {
    if (signer.did !== input.did || !existing)
      throw denied(`only an admin may register keys for ${input.did}`, { did: input.did });
    if (input.role !== undefined && input.role !== existing.role)
      throw denied('only an admin may change an operator’s role', { did: input.did });
  }
  if (!existing && directory.operators.length >= MAX_OPERATORS)
    throw hvError(ErrorType.LimitExceeded, `the registry holds at most ${MAX_OPERATORS} operators`);
  const keys = [...(existing?.keys ?? []), { kid, publicKey: input.publicKey, addedAtMs: nowMs, revokedAtMs: null }];
  if (keys.length > MAX_KEYS_PER_OPERATOR)
    throw hvError(
      ErrorType.LimitExceeded,
      `an operator holds at most ${MAX_KEYS_PER_OPERATOR} keys (revoked included)`,
    );
  const entry: OperatorEntry = { did: input.did, role: input.role ?? existing?.role ?? 'operator', keys };
  return { directory: replace(directory, entry), entry };
}

/** Revokes a key from now on; revoking a revoked key changes nothing. */
export function revokeOperatorKey(
  directory: OperatorDirectory,
  signer: CommandSigner,
  input: z.output<typeof RevokeOperatorKeyInput>,
  nowMs: number,
): { directory: OperatorDirectory; entry: OperatorEntry } {
  const owner = directory.operators.find((op) => op.keys.some((k) => k.kid === input.kid));
  if (!owner) throw hvError(ErrorType.NotFound, `key ${input.kid} is not registered`, { kid: input.kid });
  if (signer.role !== 'admin' && signer.did !== owner.did)
    throw denied(`only an admin or ${owner.did} may revoke key ${input.kid}`, { kid: input.kid });
  const keys = owner.keys.map((k) =>
    k.kid === input.kid && k.revokedAtMs === null ? { ...k, revokedAtMs: nowMs } : k,
  );
  const entry = { ...owner, keys };
  return { directory: replace(directory, entry), entry };
}

import { z } from 'zod';
import { AgentDid } from './identifiers.js';
import { sha256Hex } from './sha256.js';
import { parseInput } from './validation.js';

/**
 * The namespace's operators (docs/DESIGN.md §13): who may sign control commands, with which Ed25519 keys, and in
 * what role. The operator registry workflow owns it and mirrors it to Postgres; session and identity workflows hold a
 * copy read from that trusted store (never from a caller), plus the bootstrap admin of the worker's configuration.
 */

/** `admin`: may act on every session and identity and manage the registry. `operator`: identity commands, and the
 * control commands of the sessions that name it (creator or `config.operators`). */
export const OperatorRole = z.enum(['admin', 'operator']);
export type OperatorRole = z.infer<typeof OperatorRole>;

// Refinements rather than `.regex`: a shared pattern is frozen (see domain/identifiers.ts).
const PUBLIC_KEY = /^[0-9a-f]{64}$/;
const KID = /^[A-Za-z0-9._:-]+$/;

/** A raw Ed25519 public key, 32 bytes in lowercase hex. */
export const Ed25519PublicKeyHex = z
  .string()
  .refine((s) => PUBLIC_KEY.test(s), 'publicKey must be 64 lowercase hex characters');

/** A key id: `op-` and the first 16 hex characters of the SHA-256 of the public key, so it names one key only. */
export const Kid = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => KID.test(s), 'kid must be 1–64 of A–Z a–z 0–9 . _ : -');

/** The key id of a public key (hex): derived, so a registry cannot give two keys the same id. */
export const kidOf = (publicKeyHex: string): string => `op-${sha256Hex(publicKeyHex).slice(0, 16)}`;

export const OperatorKey = z.strictObject({
  kid: Kid,
  publicKey: Ed25519PublicKeyHex,
  addedAtMs: z.number().int().nonnegative(),
  revokedAtMs: z.number().int().nonnegative().nullable(),
});
export type OperatorKey = z.infer<typeof OperatorKey>;

/** At most this many keys per operator (rotated keys stay listed, revoked) and operators per namespace. */
export const MAX_KEYS_PER_OPERATOR = 16;
export const MAX_OPERATORS = 1_000;

export const OperatorEntry = z.strictObject({
  did: AgentDid,
  role: OperatorRole,
  keys: z.array(OperatorKey).max(MAX_KEYS_PER_OPERATOR),
});
export type OperatorEntry = z.infer<typeof OperatorEntry>;

export const OperatorDirectory = z.strictObject({ operators: z.array(OperatorEntry).max(MAX_OPERATORS) });
export type OperatorDirectory = z.infer<typeof OperatorDirectory>;

/** One key as the verifier looks it up. */
export interface KeyHolder {
  did: string;
  role: OperatorRole;
  kid: string;
  publicKey: string;
  revokedAtMs: number | null;
}

/** kid → holder, built once per loaded directory (a workflow keeps it until the next refresh). */
export type KeyIndex = ReadonlyMap<string, KeyHolder>;

export function indexDirectory(directory: OperatorDirectory): KeyIndex {
  const index = new Map<string, KeyHolder>();
  for (const op of directory.operators)
    for (const key of op.keys)
      index.set(key.kid, {
        did: op.did,
        role: op.role,
        kid: key.kid,
        publicKey: key.publicKey,
        revokedAtMs: key.revokedAtMs,
      });
  return index;
}

/**
 * Merges directories (the worker's bootstrap admin first, then the registry's mirror). An operator listed twice keeps
 * the higher role and the union of its keys; a key revoked in any source stays revoked.
 */
export function mergeDirectories(...sources: OperatorDirectory[]): OperatorDirectory {
  const byDid = new Map<string, OperatorEntry>();
  for (const source of sources)
    for (const op of source.operators) {
      const known = byDid.get(op.did);
      if (!known) {
        byDid.set(op.did, { ...op, keys: [...op.keys] });
        continue;
      }
      const keys = [...known.keys];
      for (const key of op.keys) {
        const i = keys.findIndex((k) => k.kid === key.kid);
        if (i < 0) keys.push(key);
        else keys[i] = { ...keys[i]!, revokedAtMs: keys[i]!.revokedAtMs ?? key.revokedAtMs };
      }
      byDid.set(op.did, { did: op.did, role: known.role === 'admin' ? 'admin' : op.role, keys });
    }
  return { operators: [...byDid.values()] };
}

/** What a control command acts on, for the authority rule. */
export type CommandTarget =
  /** A session: its operators are the creator and `config.operators`. */
  | { kind: 'session'; sessionOperators: readonly string[] }
  /** An agent identity (kill-switch trip, unblock, configure): any registry operator. */
  | { kind: 'identity' }
  /** The registry itself (adding operators, other operators' keys): admins. */
  | { kind: 'registry' };

/**
 * The authority rule. Session control commands: a session operator holding a registered key, or a namespace admin.
 * Identity commands: any registry operator. Registry commands: admins (an operator managing its own keys is decided
 * by the registry, which knows whose key a command names).
 */
export function mayCommand(signer: { did: string; role: OperatorRole }, target: CommandTarget): boolean {
  if (signer.role === 'admin') return true;
  switch (target.kind) {
    case 'session':
      return target.sessionOperators.includes(signer.did);
    case 'identity':
      return true;
    case 'registry':
      return false;
  }
}

/**
 * The bootstrap admin of a worker's configuration: `<did>=<public key hex>` (`HV_OPERATOR_BOOTSTRAP_KEY`). Throws
 * `InvalidInput` naming what is wrong.
 */
export function parseBootstrapOperator(text: string): OperatorEntry {
  const at = text.lastIndexOf('=');
  const did = parseInput(AgentDid, text.slice(0, Math.max(0, at)).trim(), 'operator DID');
  const publicKey = parseInput(
    Ed25519PublicKeyHex,
    text
      .slice(at + 1)
      .trim()
      .toLowerCase(),
    'operator public key',
  );
  return { did, role: 'admin', keys: [{ kid: kidOf(publicKey), publicKey, addedAtMs: 0, revokedAtMs: null }] };
}

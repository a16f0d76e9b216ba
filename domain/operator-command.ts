import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { canonicalJson } from './audit-chain.js';
import { ErrorType, hvError } from './errors.js';
import { Kid, mayCommand, type CommandTarget, type KeyIndex, type OperatorRole } from './operators.js';

/**
 * Signed operator commands (docs/DESIGN.md §13). A control command travels as its usual input plus an `auth` block;
 * the operator signs, with Ed25519, the canonical JSON (the audit chain's) of
 * `{cmd, workflowId, args, iat, exp, nonce, kid}`, where `args` is the input without `auth`. Pure and deterministic:
 * the receiving workflow verifies inside its update validator (or signal handler) with workflow time.
 */

/** A command lives at most this long (`exp - iat`), so the nonces a workflow must remember stay few. */
export const MAX_COMMAND_LIFETIME_MS = 10 * 60_000;
/** How far `iat` may be ahead of the workflow's clock (the operator's clock runs a little fast). */
export const MAX_CLOCK_SKEW_MS = 60_000;
/** Nonces remembered per workflow until they expire; when full, new commands are refused rather than any forgotten. */
export const MAX_NONCES = 4_096;

// Refinements rather than `.regex` (a shared pattern is frozen; see domain/identifiers.ts).
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const SIG = /^[0-9a-f]{128}$/;

export const OperatorAuth = z.strictObject({
  kid: Kid,
  iat: z.number().int().nonnegative(),
  exp: z.number().int().nonnegative(),
  nonce: z.string().refine((s) => NONCE.test(s), 'nonce must be 16–64 base64url characters'),
  sig: z.string().refine((s) => SIG.test(s), 'sig must be 128 lowercase hex characters'),
});
export type OperatorAuth = z.infer<typeof OperatorAuth>;

/** Nonce → its command's `exp`, kept until then (carried through continue-as-new). */
export type NonceBook = Record<string, number>;

/** Who signed a verified command: recorded in the audit entries the command produces (non-repudiation). */
export interface CommandSigner {
  did: string;
  kid: string;
  role: OperatorRole;
  sig: string;
  nonce: string;
  exp: number;
}

/** An operator's signing key as a client holds it (the private key never leaves the client). */
export interface OperatorSigner {
  did: string;
  kid: string;
  /** 32-byte Ed25519 seed, hex. */
  privateKey: string;
}

/** Why a command was refused; `unknown_key` and `revoked_key` are worth one directory refresh and retry. */
export type AuthFailure =
  | 'unsigned'
  | 'malformed'
  | 'unknown_key'
  | 'revoked_key'
  | 'bad_signature'
  | 'not_an_operator'
  | 'wrong_workflow'
  | 'expired'
  | 'not_yet_valid'
  | 'lifetime_too_long'
  | 'replayed'
  | 'nonce_book_full'
  | 'actor_mismatch';

const refuse = (reason: AuthFailure, message: string, details: Record<string, unknown> = {}) =>
  hvError(ErrorType.PermissionDenied, `operator command refused (${reason}): ${message}`, { reason, ...details });

/** The exact bytes an operator signs. */
export function commandMessage(fields: {
  cmd: string;
  workflowId: string;
  args: unknown;
  iat: number;
  exp: number;
  nonce: string;
  kid: string;
}): Uint8Array {
  const { cmd, workflowId, args, iat, exp, nonce, kid } = fields;
  return utf8ToBytes(canonicalJson({ cmd, workflowId, args, iat, exp, nonce, kid }));
}

/** The public key (hex) of a private key (hex seed). */
export const publicKeyOf = (privateKeyHex: string): string =>
  bytesToHex(ed25519.getPublicKey(hexToBytes(privateKeyHex)));

/**
 * Signs `args` (the command's input without `auth`, exactly as it will be sent) for `cmd` on `workflowId`. `nonce`
 * must be random (the client draws 128 bits); time and nonce are arguments, as everywhere in `domain/`.
 */
export function signCommand(input: {
  signer: OperatorSigner;
  cmd: string;
  workflowId: string;
  args: unknown;
  nowMs: number;
  nonce: string;
  lifetimeMs?: number;
}): OperatorAuth {
  const { signer, cmd, workflowId, args, nowMs, nonce } = input;
  const iat = nowMs;
  const exp = nowMs + (input.lifetimeMs ?? 5 * 60_000);
  const message = commandMessage({ cmd, workflowId, args, iat, exp, nonce, kid: signer.kid });
  const sig = bytesToHex(ed25519.sign(message, hexToBytes(signer.privateKey)));
  return { kid: signer.kid, iat, exp, nonce, sig };
}

/** Splits a wire input into its `auth` block and the rest (`args`, what was signed). */
export function splitAuth(raw: unknown): { auth: unknown; args: Record<string, unknown> } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { auth: undefined, args: {} };
  const { auth, ...args } = raw as Record<string, unknown>;
  return { auth, args };
}

export interface VerifyRequest {
  cmd: string;
  /** The receiving workflow's own id (never the caller's word for it). */
  workflowId: string;
  /** The input as received, `auth` included. */
  raw: unknown;
  keys: KeyIndex;
  target: CommandTarget;
  nowMs: number;
  nonces: NonceBook;
}

/**
 * Verifies a signed command, or throws `PermissionDenied` with `details.reason` an {@link AuthFailure}. Checks, in
 * order: the `auth` block's shape, the key (known, not revoked), the authority rule for `target`, the workflow id,
 * the times (`iat` not ahead by more than {@link MAX_CLOCK_SKEW_MS}, `exp` not passed, lifetime bounded), the nonce
 * (not already seen, room to remember it), and finally the signature (the costliest check last).
 */
export function verifyCommand(req: VerifyRequest): { signer: CommandSigner; args: Record<string, unknown> } {
  const { auth: rawAuth, args } = splitAuth(req.raw);
  if (rawAuth === undefined) throw refuse('unsigned', `${req.cmd} must be signed by an operator`);
  const parsed = OperatorAuth.safeParse(rawAuth);
  if (!parsed.success) throw refuse('malformed', 'the auth block is malformed');
  const auth = parsed.data;
  const holder = req.keys.get(auth.kid);
  if (!holder) throw refuse('unknown_key', `key ${auth.kid} is not registered`, { kid: auth.kid });
  if (holder.revokedAtMs !== null && holder.revokedAtMs <= req.nowMs)
    throw refuse('revoked_key', `key ${auth.kid} was revoked`, { kid: auth.kid });
  if (!mayCommand(holder, req.target))
    throw refuse('not_an_operator', `${holder.did} may not ${req.cmd} here`, { did: holder.did });
  if (auth.exp - auth.iat > MAX_COMMAND_LIFETIME_MS)
    throw refuse('lifetime_too_long', `a command lives at most ${MAX_COMMAND_LIFETIME_MS} ms`);
  if (auth.iat > req.nowMs + MAX_CLOCK_SKEW_MS) throw refuse('not_yet_valid', 'the command is issued in the future');
  if (auth.exp <= req.nowMs) throw refuse('expired', 'the command has expired');
  if (req.nonces[auth.nonce] !== undefined) throw refuse('replayed', 'the command was already received');
  if (Object.keys(req.nonces).length >= MAX_NONCES && !Object.values(req.nonces).some((exp) => exp <= req.nowMs))
    throw refuse('nonce_book_full', 'too many commands in flight; retry later');
  const message = commandMessage({ cmd: req.cmd, workflowId: req.workflowId, args, ...auth });
  let valid: boolean;
  try {
    valid = ed25519.verify(hexToBytes(auth.sig), message, hexToBytes(holder.publicKey));
  } catch {
    valid = false;
  }
  // A signature over another workflow id (or command) fails here: the id is part of what was signed.
  if (!valid) throw refuse('bad_signature', 'the signature does not match the command, its target or the key');
  return {
    signer: { did: holder.did, kid: holder.kid, role: holder.role, sig: auth.sig, nonce: auth.nonce, exp: auth.exp },
    args,
  };
}

/**
 * The command's actor field is the signer: filled in when absent, refused when it names someone else. Returns the
 * input to parse with the command's own schema.
 */
export function withActor(
  args: Record<string, unknown>,
  field: string,
  signer: CommandSigner,
): Record<string, unknown> {
  const given = args[field];
  if (given !== undefined && given !== signer.did)
    throw refuse('actor_mismatch', `${field} ${JSON.stringify(given)} is not the signer ${signer.did}`, { field });
  return { ...args, [field]: signer.did };
}

/** The nonce book after a command was accepted: expired nonces dropped, the new one remembered until its `exp`. */
export function rememberNonce(
  nonces: NonceBook,
  signer: Pick<CommandSigner, 'nonce' | 'exp'>,
  nowMs: number,
): NonceBook {
  const next: NonceBook = {};
  for (const [nonce, exp] of Object.entries(nonces)) if (exp > nowMs) next[nonce] = exp;
  next[signer.nonce] = signer.exp;
  return next;
}

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { canonicalJson } from './audit-chain.js';

/**
 * Internal messages (docs/DESIGN.md §3.5, "Threat model: internal messages"): what one part of the hypervisor tells
 * another (a kill-switch notice, a session's registration or its decisions, a saga hand-off) carries an Ed25519
 * signature made with the internal key, which only workers hold. The workflow that receives it verifies it here, with
 * the public keys its worker gave it (never with keys from a start argument or a message), deterministically: pure JS,
 * workflow time, no secret in history.
 */

/** A signed message older than this (by workflow time) is refused: a message copied out of a history goes stale. */
export const INTERNAL_MESSAGE_TTL_MS = 60 * 60_000;
/** How far ahead of workflow time a signature may be stamped (the signer's clock against the server's). */
export const INTERNAL_CLOCK_SKEW_MS = 5 * 60_000;

/** The signature an internal message carries in its `auth` field. */
export const InternalAuth = z.strictObject({
  /** Which internal key signed (see {@link internalKeyId}). */
  kid: z.string().refine((v) => /^[0-9a-f]{16}$/.test(v), 'kid must be 16 hex digits'),
  /** When it was signed (the signer's clock, ms). */
  iat: z.number().int().nonnegative(),
  /** Ed25519 over {@link internalMessageText}, hex. */
  sig: z.string().refine((v) => /^[0-9a-f]{128}$/.test(v), 'sig must be 128 hex digits'),
});
export type InternalAuth = z.infer<typeof InternalAuth>;

/** A public key the workers accept, as the `internalTrustAnchors` activity hands it to a workflow. */
export interface TrustAnchor {
  kid: string;
  /** The raw 32-byte Ed25519 public key, hex. */
  publicKey: string;
}

const PublicKeyHex = z.string().refine((v) => /^[0-9a-f]{64}$/.test(v), 'an internal public key is 64 hex digits');

/** The key id of a raw public key: the first 8 bytes of its SHA-256, hex. */
export const internalKeyId = (publicKeyHex: string): string =>
  bytesToHex(sha256(hexToBytes(PublicKeyHex.parse(publicKeyHex)))).slice(0, 16);

/** The anchors of these raw public keys (hex), duplicates removed, in order. */
export function trustAnchorsOf(publicKeysHex: readonly string[]): TrustAnchor[] {
  const out = new Map<string, TrustAnchor>();
  for (const publicKey of publicKeysHex)
    out.set(internalKeyId(publicKey), { kid: internalKeyId(publicKey), publicKey });
  return [...out.values()];
}

/** What is signed: the message's name, the workflow it is for, its body (the message without `auth`) and `iat`. */
export function internalMessageText(name: string, target: string, body: unknown, iat: number): string {
  return canonicalJson({ name, target, body, iat });
}

/** A message as received: its `auth`, and everything else, which is the signed body. */
export function splitAuth(message: unknown): { body: unknown; auth: unknown } {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return { body: message, auth: null };
  const { auth, ...body } = message as Record<string, unknown>;
  return { body, auth: auth ?? null };
}

export type InternalVerdict = { ok: true; kid: string; iat: number } | { ok: false; reason: string };

/**
 * Whether `message` (as received, `auth` included) is a genuine `name` message for `target`: signed by one of the
 * `anchors`, stamped no later than {@link INTERNAL_CLOCK_SKEW_MS} ahead of `nowMs` and no earlier than
 * {@link INTERNAL_MESSAGE_TTL_MS} before it. Never throws: a refusal says why.
 */
export function verifyInternalMessage(
  anchors: readonly TrustAnchor[],
  name: string,
  target: string,
  message: unknown,
  nowMs: number,
): InternalVerdict {
  const { body, auth: raw } = splitAuth(message);
  if (raw === null) return { ok: false, reason: 'unsigned internal message' };
  const parsed = InternalAuth.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: 'malformed signature' };
  const auth = parsed.data;
  const anchor = anchors.find((a) => a.kid === auth.kid);
  if (!anchor) return { ok: false, reason: `signed with an unknown key ${auth.kid}` };
  if (auth.iat > nowMs + INTERNAL_CLOCK_SKEW_MS) return { ok: false, reason: 'signed in the future' };
  if (auth.iat < nowMs - INTERNAL_MESSAGE_TTL_MS) return { ok: false, reason: 'expired signature' };
  let text: string;
  try {
    text = internalMessageText(name, target, body, auth.iat);
  } catch {
    return { ok: false, reason: 'body has no canonical form' };
  }
  let valid: boolean;
  try {
    valid = ed25519.verify(hexToBytes(auth.sig), utf8ToBytes(text), hexToBytes(anchor.publicKey));
  } catch {
    valid = false;
  }
  return valid ? { ok: true, kid: auth.kid, iat: auth.iat } : { ok: false, reason: 'bad signature' };
}

/** At most this many refused internal messages are listed in a workflow's status (the count goes on). */
export const REJECTED_KEPT = 20;

/** A refused internal message, as a workflow's status lists it. */
export interface RejectedMessage {
  name: string;
  reason: string;
  atMs: number;
}

/** The refusals a workflow keeps for its status query: a count, and the latest {@link REJECTED_KEPT}. */
export interface RejectedLog {
  count: number;
  latest: RejectedMessage[];
}

/** Adds a refusal to the log (in place), forgetting the oldest beyond {@link REJECTED_KEPT}. */
export function noteRejected(log: RejectedLog, rejected: RejectedMessage): void {
  log.count += 1;
  log.latest.push({ ...rejected, reason: rejected.reason.slice(0, 300) });
  if (log.latest.length > REJECTED_KEPT) log.latest.splice(0, log.latest.length - REJECTED_KEPT);
}

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/** Version tag hashed into every entry, so a future format change can never collide with this one. */
export const AUDIT_FORMAT = 'hv-audit-v1';
export const COMMITMENT_FORMAT = 'hv-commitment-v1';
export const CHECKPOINT_FORMAT = 'hv-checkpoint-v1';
export const GENESIS_HASH = '0'.repeat(64);

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Canonical JSON: object keys sorted by code unit at every level, no whitespace, `undefined` members omitted.
 * Non-finite numbers have no JSON form and are refused rather than silently turned into `null`.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot encode ${value}`);
      return JSON.stringify(value);
    case 'object': {
      // Array.from visits holes too (map skips them and would write `[,,1]`, which is not JSON).
      if (Array.isArray(value)) return `[${Array.from(value, (item) => canonicalJson(item ?? null)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

export const sha256Hex = (text: string): string => bytesToHex(sha256(utf8ToBytes(text)));

/** Link hash: SHA-256 over the previous hash, a newline, and the canonical entry. */
export const chainHash = (prevHash: string, canonicalEntry: string): string =>
  sha256Hex(`${prevHash}\n${canonicalEntry}`);

/**
 * The hashed part of one audit entry. The payload is bound through its own hash, so retention can delete the payload
 * after its period while the chain (and every link after it) still verifies.
 */
export interface AuditEntry {
  format: typeof AUDIT_FORMAT;
  sessionId: string;
  seq: number;
  kind: string;
  agentDid: string | null;
  payloadHash: string;
  recordedAtMs: number;
  workflowId: string;
  runId: string;
}

/** One link as the writer hands it to the store: the hashed entry, its payload, and the two hashes. */
export interface ChainedEntry {
  entry: AuditEntry;
  payload: Json;
  prevHash: string;
  hash: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export const genesisHead = (): ChainHead => ({ seq: 0, hash: GENESIS_HASH });

export const payloadDigest = (payload: Json): string => sha256Hex(canonicalJson(payload));

/** The link hash of `entry` after `prevHash`. Writers, the store and the verifier all go through this one function. */
export const entryHash = (prevHash: string, entry: AuditEntry): string => chainHash(prevHash, canonicalJson(entry));

export interface NewEntry {
  sessionId: string;
  kind: string;
  agentDid: string | null;
  payload: Json;
  recordedAtMs: number;
  workflowId: string;
  runId: string;
}

/** Appends one entry to the chain: the next seq, linked to the head. Pure; the caller keeps the returned head. */
export function appendEntry(head: ChainHead, input: NewEntry): { head: ChainHead; chained: ChainedEntry } {
  const { payload, ...rest } = input;
  const entry: AuditEntry = { format: AUDIT_FORMAT, ...rest, seq: head.seq + 1, payloadHash: payloadDigest(payload) };
  const hash = entryHash(head.hash, entry);
  return { head: { seq: entry.seq, hash }, chained: { entry, payload, prevHash: head.hash, hash } };
}

/**
 * Re-checks a batch handed over by the writer: each payload matches its hash, each link recomputes, and the links
 * follow each other. Returns the first problem, or null. The store runs it before writing anything, with `hash` set
 * to a native SHA-256 (node:crypto computes the same digests as the pure-JS one, faster).
 */
export function batchProblem(
  sessionId: string,
  batch: readonly ChainedEntry[],
  hash: (text: string) => string = sha256Hex,
): string | null {
  let previous: ChainedEntry | undefined;
  for (const link of batch) {
    const { entry } = link;
    if (entry.format !== AUDIT_FORMAT) return `entry ${entry.seq} has unknown format ${String(entry.format)}`;
    if (entry.sessionId !== sessionId) return `entry ${entry.seq} belongs to session ${entry.sessionId}`;
    if (hash(canonicalJson(link.payload)) !== entry.payloadHash)
      return `entry ${entry.seq}: payload does not match its hash`;
    if (hash(`${link.prevHash}\n${canonicalJson(entry)}`) !== link.hash)
      return `entry ${entry.seq}: hash does not recompute`;
    if (previous && (entry.seq !== previous.entry.seq + 1 || link.prevHash !== previous.hash))
      return `entry ${entry.seq} does not follow entry ${previous.entry.seq}`;
    previous = link;
  }
  return null;
}

/** What a session commits to when it ends; the signature (when a key is configured) covers exactly these fields. */
export interface CommitmentStatement {
  format: typeof COMMITMENT_FORMAT;
  sessionId: string;
  root: string;
  entryCount: number;
  participants: string[];
  killSwitchTriggered: boolean;
  terminatedAtMs: number;
}

/** The statement a commitment's signature covers, from any record that carries its fields. */
export const commitmentStatement = (
  c: Pick<
    CommitmentStatement,
    'sessionId' | 'root' | 'entryCount' | 'participants' | 'killSwitchTriggered' | 'terminatedAtMs'
  >,
): CommitmentStatement => ({
  format: COMMITMENT_FORMAT,
  sessionId: c.sessionId,
  root: c.root,
  entryCount: c.entryCount,
  participants: c.participants,
  killSwitchTriggered: c.killSwitchTriggered,
  terminatedAtMs: c.terminatedAtMs,
});

/** A signed statement "the chain of `sessionId` had `size` entries with head `root`", kept outside the audit table. */
export interface CheckpointStatement {
  format: typeof CHECKPOINT_FORMAT;
  sessionId: string;
  size: number;
  root: string;
  final: boolean;
  atMs: number;
}

/** The exact bytes a signature covers. */
export const statementBytes = (statement: CommitmentStatement | CheckpointStatement): string =>
  canonicalJson(statement);

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/** Version tag hashed into every entry, so a future format change can never collide with this one. */
export const AUDIT_FORMAT = 'hv-audit-v1';
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
      if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
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

/** What the session records for one governance event. */
export interface AuditEntry {
  format: typeof AUDIT_FORMAT;
  sessionId: string;
  seq: number;
  kind: string;
  agentDid: string | null;
  payload: Json;
  recordedAtMs: number;
  workflowId: string;
  runId: string;
}

export interface ChainedEntry {
  entry: AuditEntry;
  prevHash: string;
  hash: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export const genesisHead = (): ChainHead => ({ seq: 0, hash: GENESIS_HASH });

/** Appends one entry to the chain: the next seq, linked to the head. Pure; the caller keeps the returned head. */
export function appendEntry(
  head: ChainHead,
  entry: Omit<AuditEntry, 'seq' | 'format'>,
): { head: ChainHead; chained: ChainedEntry } {
  const full: AuditEntry = { format: AUDIT_FORMAT, ...entry, seq: head.seq + 1 };
  const hash = chainHash(head.hash, canonicalJson(full));
  return { head: { seq: full.seq, hash }, chained: { entry: full, prevHash: head.hash, hash } };
}

/**
 * The audit-link builder as it was before canonical JSON and SHA-256 were made fast: the recursive canonical JSON
 * and `@noble/hashes`. Kept only so the bench can show the before and after in the same run; it produces the same
 * links (test/domain/canonical-json.test.ts and test/domain/sha256.test.ts pin the equality).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  AUDIT_FORMAT,
  type AuditEntry,
  type ChainedEntry,
  type ChainHead,
  type NewEntry,
} from '../domain/audit-chain.js';

function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot encode ${value}`);
      return JSON.stringify(value);
    case 'object': {
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

const sha256Hex = (text: string): string => bytesToHex(sha256(utf8ToBytes(text)));

/** Writes the current format, as `appendEntry` does, so the two builders' links stay comparable. */
export function appendEntryBefore(head: ChainHead, input: NewEntry): { head: ChainHead; chained: ChainedEntry } {
  const { payload, runId, format: _format, ...rest } = input;
  const entry: AuditEntry = {
    format: AUDIT_FORMAT,
    ...rest,
    seq: head.seq + 1,
    payloadHash: sha256Hex(canonicalJson(payload)),
  };
  const hash = sha256Hex(`${head.hash}\n${canonicalJson(entry)}`);
  return { head: { seq: entry.seq, hash }, chained: { entry, payload, prevHash: head.hash, hash, runId } };
}
